"""contact networks, template clusters and each ad's link (linking)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('contact_network',
    sa.Column('id', _ID, nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('contacts', sa.Integer(), nullable=False),
    sa.Column('sites', sa.JSON(), nullable=False),
    sa.Column('cities', sa.JSON(), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=True),
    sa.Column('movement', sa.Boolean(), nullable=False),
    sa.Column('movement_detail', sa.JSON(), nullable=False),
    sa.Column('boost', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('template_cluster',
    sa.Column('id', _ID, nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('representative_ad_id', _ID, nullable=True),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['representative_ad_id'], ['ad.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('ad_link',
    sa.Column('ad_id', _ID, nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('network_id', _ID, nullable=True),
    sa.Column('cluster_id', _ID, nullable=True),
    sa.Column('minhash', sa.LargeBinary(), nullable=True),
    sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ad_id'], ['ad.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['cluster_id'], ['template_cluster.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['network_id'], ['contact_network.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('ad_id')
    )
    with op.batch_alter_table('ad_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ad_link_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ad_link_network_id'), ['network_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ad_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ad_link_network_id'))
        batch_op.drop_index(batch_op.f('ix_ad_link_cluster_id'))
    op.drop_table('ad_link')
    op.drop_table('template_cluster')
    op.drop_table('contact_network')
