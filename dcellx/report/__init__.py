"""The report layer (7): ``dcellx report``, the measurements that answer our users' question."""
