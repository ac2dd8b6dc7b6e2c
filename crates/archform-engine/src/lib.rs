//! archform's deployment engine, independent of AWS: the saved state of a
//! stack and where it is stored, plans (desired graph vs state as typed
//! steps), and a generic DAG executor that applies them in parallel.

pub mod apply;
pub mod dag;
pub mod plan;
pub mod provider;
pub mod recover;
pub mod refresh;
pub mod state;
