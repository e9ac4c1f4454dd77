-- log_by_lua (http level): feed response times to ewma.
require("portico.balancer").log()
