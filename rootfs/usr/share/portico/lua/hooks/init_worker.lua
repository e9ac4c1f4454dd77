-- init_worker_by_lua: seed each worker differently, so round robin starts
-- and random choices (ewma, canary weights) differ between workers.
math.randomseed(ngx.now() * 1000 + ngx.worker.pid())
-- Request metrics, when nginx.conf turns them on (env PORTICO_METRICS).
require("portico.request_log").start()
