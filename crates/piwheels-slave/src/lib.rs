//! The piwheels build slave (to be written).
