//! Protocol-faithful fake of the upstream server (being written).
