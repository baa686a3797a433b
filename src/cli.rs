//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "slm-wizard",
    version,
    about = "Sets up and watches the PostgreSQL user-management databases of the SLM platform"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a playbook headless (like ansible-playbook).
    Run(RunArgs),
    /// Show an inventory as ansible-inventory does.
    Inventory(InventoryArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The playbook (Ansible YAML).
    pub playbook: PathBuf,
    /// Inventory file (Ansible YAML); without it the play targets localhost over the local connection.
    #[arg(short, long)]
    pub inventory: Option<PathBuf>,
    /// Extra variables: key=value, @file.yml, or a YAML/JSON mapping (repeatable).
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
    /// Only run on hosts matching this pattern.
    #[arg(short = 'l', long)]
    pub limit: Option<String>,
    /// Only run tasks with these tags (comma separated, repeatable).
    #[arg(short = 't', long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Skip tasks with these tags.
    #[arg(long, value_delimiter = ',')]
    pub skip_tags: Vec<String>,
    /// Report what would change without changing anything.
    #[arg(short = 'C', long)]
    pub check: bool,
    /// Show the differences of changed files and objects.
    #[arg(short = 'D', long)]
    pub diff: bool,
    /// Hosts at once.
    #[arg(short = 'f', long, default_value_t = 50)]
    pub forks: usize,
    /// One JSON object per event on stdout.
    #[arg(long)]
    pub json: bool,
    /// Do not ask for confirmation (the headless run never asks; accepted for scripts).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// File holding the Ansible Vault password (or an executable that prints it).
    #[arg(long, env = "ANSIBLE_VAULT_PASSWORD_FILE")]
    pub vault_password_file: Option<PathBuf>,
    /// Trust and record host keys seen for the first time (StrictHostKeyChecking=accept-new).
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// Seconds to wait for an SSH connection.
    #[arg(long, default_value_t = 10)]
    pub connect_timeout: u64,
    /// Seconds a single command may run before it is killed (0 = no limit).
    #[arg(long, default_value_t = 0)]
    pub command_timeout: u64,
    /// Show live command output.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    #[arg(short, long)]
    pub inventory: PathBuf,
    /// Print the whole inventory as JSON.
    #[arg(long)]
    pub list: bool,
    /// Print one host's variables as JSON.
    #[arg(long)]
    pub host: Option<String>,
    #[arg(long, env = "ANSIBLE_VAULT_PASSWORD_FILE")]
    pub vault_password_file: Option<PathBuf>,
}
