"""Scheduled jobs: the ``adwatch schedule`` scheduler (APScheduler 3.x), crawl and rescoring tasks.

Crawls never run inside the scheduler process: each is a ``scrapy crawl`` subprocess with a
JOBDIR (a long-lived process cannot restart Twisted's reactor; scrapy issues #2941, #5026).
"""
