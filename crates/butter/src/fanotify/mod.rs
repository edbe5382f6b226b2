//! fanotify: filesystem-wide monitoring, and answering permission events.
