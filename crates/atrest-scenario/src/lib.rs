//! Scenario files, the engine that runs them over any [`atrest_backend::Cluster`], and reports.
//!
//! A scenario (`scenarios/*.yaml`, format in `scenarios/README.md`) is a list of steps: write an
//! encryption configuration, start or restart apiservers, create and read Secrets and
//! ConfigMaps, rewrite a resource, and expectations on what the API answers and what etcd holds.
//! [`engine::run`] executes it on whatever cluster it is given (it names no backend) and returns
//! a [`report::Report`]: text, JSON or JUnit.

mod bind;
pub mod engine;
pub mod metrics;
pub mod report;
pub mod schema;
pub mod stored;
pub mod template;

pub use engine::{BoundKeys, EngineError, FlagSpec, Prepared, Progress, RunOptions, run};
pub use report::{Outcome, Report};
pub use schema::{
    CONFIG_LIMIT, SCENARIO_LIMIT, Scenario, ScenarioError, json_schema, load, parse, parse_with,
};
