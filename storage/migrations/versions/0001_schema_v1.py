"""schema v1: sites, runs, ads, versions, scores, entities, review

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('app_user',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('audit_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('target_type', sa.String(length=50), nullable=True),
    sa.Column('target_id', sa.String(length=200), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index('ix_audit_event_at', ['at'], unique=False)

    op.create_table('entity',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('value', sa.String(length=500), nullable=True),
    sa.Column('value_hmac', sa.String(length=64), nullable=False),
    sa.Column('masked', sa.String(length=500), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('type', 'value_hmac', name='uq_entity_type_hmac')
    )
    op.create_table('site',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('crawl_run',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('site', sa.String(length=200), nullable=False),
    sa.Column('site_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('stats', sa.JSON(), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=True),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('jobdir', sa.Text(), nullable=True),
    sa.Column('resumed_from', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['resumed_from'], ['crawl_run.id'], ),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('crawl_run', schema=None) as batch_op:
        batch_op.create_index('ix_crawl_run_site_status', ['site', 'status'], unique=False)

    op.create_table('ad',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('canonical_url', sa.String(length=2000), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('site', sa.String(length=200), nullable=False),
    sa.Column('site_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('ad_type', sa.String(length=20), nullable=False),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('employer', sa.Text(), nullable=True),
    sa.Column('location_raw', sa.Text(), nullable=True),
    sa.Column('salary_raw', sa.Text(), nullable=True),
    sa.Column('salary_min', sa.Float(), nullable=True),
    sa.Column('salary_max', sa.Float(), nullable=True),
    sa.Column('salary_currency', sa.String(length=8), nullable=True),
    sa.Column('salary_period', sa.String(length=10), nullable=True),
    sa.Column('posted_raw', sa.Text(), nullable=True),
    sa.Column('posted_date', sa.String(length=32), nullable=True),
    sa.Column('contact_raw', sa.Text(), nullable=True),
    sa.Column('raw_html', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=True),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fetched_at', sa.String(length=40), nullable=True),
    sa.Column('first_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('last_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('expired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expired_reason', sa.String(length=200), nullable=True),
    sa.Column('etag', sa.String(length=500), nullable=True),
    sa.Column('last_modified', sa.String(length=100), nullable=True),
    sa.Column('review_status', sa.String(length=20), nullable=False),
    sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['first_run_id'], ['crawl_run.id'], ),
    sa.ForeignKeyConstraint(['last_run_id'], ['crawl_run.id'], ),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('canonical_url')
    )
    with op.batch_alter_table('ad', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ad_last_run_id'), ['last_run_id'], unique=False)
        batch_op.create_index('ix_ad_last_seen', ['last_seen'], unique=False)
        batch_op.create_index('ix_ad_site_status', ['site', 'status'], unique=False)

    op.create_table('ad_entity',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ad_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entity_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('start', sa.Integer(), nullable=False),
    sa.Column('end', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['ad_id'], ['ad.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['entity_id'], ['entity.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ad_entity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ad_entity_ad_id'), ['ad_id'], unique=False)
        batch_op.create_index('ix_ad_entity_entity', ['entity_id'], unique=False)

    op.create_table('ad_version',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ad_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['ad_id'], ['ad.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['crawl_run.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ad_id', 'version', name='uq_ad_version_number')
    )
    with op.batch_alter_table('ad_version', schema=None) as batch_op:
        batch_op.create_index('ix_ad_version_sha', ['ad_id', 'content_sha256'], unique=False)

    op.create_table('score',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ad_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ad_version_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('model_version', sa.String(length=100), nullable=False),
    sa.Column('risk', sa.Float(), nullable=False),
    sa.Column('band', sa.String(length=10), nullable=False),
    sa.Column('lang', sa.String(length=8), nullable=True),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('explanation', sa.JSON(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('scored_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ad_id'], ['ad.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ad_version_id'], ['ad_version.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ad_version_id', 'model_version', name='uq_score_version_model')
    )
    with op.batch_alter_table('score', schema=None) as batch_op:
        batch_op.create_index('ix_score_ad', ['ad_id'], unique=False)
        batch_op.create_index('ix_score_risk', ['risk'], unique=False)

    op.create_table('indicator_hit',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('score_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('indicator_id', sa.String(length=100), nullable=False),
    sa.Column('category', sa.String(length=50), nullable=False),
    sa.Column('start', sa.Integer(), nullable=False),
    sa.Column('end', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['score_id'], ['score.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('indicator_hit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_indicator_hit_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_indicator_hit_score_id'), ['score_id'], unique=False)

    op.create_table('review_item',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ad_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('score_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('priority', sa.Float(), nullable=False),
    sa.Column('assigned_to', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ad_id'], ['ad.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['assigned_to'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['score_id'], ['score.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ad_id')
    )
    with op.batch_alter_table('review_item', schema=None) as batch_op:
        batch_op.create_index('ix_review_item_state', ['state', 'priority'], unique=False)

    op.create_table('decision',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('review_item_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['review_item_id'], ['review_item.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decision_review_item_id'), ['review_item_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_decision_review_item_id'))

    op.drop_table('decision')
    with op.batch_alter_table('review_item', schema=None) as batch_op:
        batch_op.drop_index('ix_review_item_state')

    op.drop_table('review_item')
    with op.batch_alter_table('indicator_hit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_indicator_hit_score_id'))
        batch_op.drop_index(batch_op.f('ix_indicator_hit_category'))

    op.drop_table('indicator_hit')
    with op.batch_alter_table('score', schema=None) as batch_op:
        batch_op.drop_index('ix_score_risk')
        batch_op.drop_index('ix_score_ad')

    op.drop_table('score')
    with op.batch_alter_table('ad_version', schema=None) as batch_op:
        batch_op.drop_index('ix_ad_version_sha')

    op.drop_table('ad_version')
    with op.batch_alter_table('ad_entity', schema=None) as batch_op:
        batch_op.drop_index('ix_ad_entity_entity')
        batch_op.drop_index(batch_op.f('ix_ad_entity_ad_id'))

    op.drop_table('ad_entity')
    with op.batch_alter_table('ad', schema=None) as batch_op:
        batch_op.drop_index('ix_ad_site_status')
        batch_op.drop_index('ix_ad_last_seen')
        batch_op.drop_index(batch_op.f('ix_ad_last_run_id'))

    op.drop_table('ad')
    with op.batch_alter_table('crawl_run', schema=None) as batch_op:
        batch_op.drop_index('ix_crawl_run_site_status')

    op.drop_table('crawl_run')
    op.drop_table('site')
    op.drop_table('entity')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_at')

    op.drop_table('audit_event')
    op.drop_table('app_user')
