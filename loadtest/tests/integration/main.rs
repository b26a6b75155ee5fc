//! proisp-loadtest run as a program: against FreeRADIUS from Debian (started here on
//! private ports, over UDP and RadSec), against its own null server, against nothing, and
//! with bad arguments.
//!
//! Counts are asserted exactly: the workload decides in advance which requests carry a
//! wrong password, so a server that answers correctly gives known accept and reject counts.
//! Nothing here asserts speed; figures come from bench/ and go to bench/RESULTS.md.

mod cli;
mod freeradius;
mod harness;
mod interop;
mod null_server;
mod radsec;
