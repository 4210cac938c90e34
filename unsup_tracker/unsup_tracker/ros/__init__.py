"""ROS 2 adapters: thin nodes that convert messages, call the core and publish results."""
