"""``dcellx report``: the measurements that answer our users' question, as report.md + figures."""
