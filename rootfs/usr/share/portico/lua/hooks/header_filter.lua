-- header_filter_by_lua (http level): set the session affinity cookie.
require("portico.balancer").header_filter()
