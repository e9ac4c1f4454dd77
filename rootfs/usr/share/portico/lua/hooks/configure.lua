-- content_by_lua (internal server): store a push from the controller.
require("portico.balancer").configure()
