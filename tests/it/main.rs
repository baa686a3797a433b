//! One integration-test binary (one link of the library instead of one per file); each module
//! is what was a test crate of its own. Run one with `cargo test --test it <module>::`.

mod ansible_engine;

mod ansible_wizard_tmux;
mod architecture;
mod argspec;
mod bad_input;
mod become_hosts;
mod cli_listing;
mod delegate;
mod deploy_hosts;
mod engine_local;
mod faults;
mod fidelity;
mod fuzz;
mod health;
mod health_hosts;
mod host_keys;
mod hosts_ssh;
mod include_role;
mod keep_acl;
mod keywords;
mod lockstep;
mod loops;
mod migrate;
mod module_defaults;
mod modules_a;
mod modules_b;
mod modules_c;
mod modules_d;
mod output_compare;
mod path_expand;
mod pg_speed;
mod postgres_db;
mod postgres_modules;
mod psql_session;
mod pyre_lineinfile;

mod robust;
mod roles;
mod roles_compare;
mod runner;
mod runs;
mod secrets_survey;
mod ssh_agent;
mod ssh_config;
mod ssh_transport;
mod stat;
mod support;
mod target_safety;
mod target_safety_hosts;
mod template_escapes;
mod templates;
mod vars_prompt;
mod wizard_hosts;
mod wizard_tmux;
