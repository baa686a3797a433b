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
    /// The wizard's inventory (Ansible YAML); default playbooks/inventory/local.yml.
    #[arg(short, long, value_name = "INVENTORY")]
    pub inventory: Option<PathBuf>,
    /// The playbook the wizard preselects: any playbook file (added to the list when it is not
    /// in the playbook directories).
    #[arg(short, long, value_name = "PLAYBOOK")]
    pub playbook: Option<PathBuf>,
    /// A directory whose playbooks (found recursively) the wizard offers (repeatable); default
    /// the directory of -p, else ./playbooks.
    #[arg(long = "playbooks", value_name = "DIR")]
    pub playbook_dirs: Vec<PathBuf>,
    /// The wizard's engine: native, ansible or auto (Review shows it; `e` there changes it).
    #[arg(long, value_enum, env = "SLM_WIZARD_ENGINE")]
    pub engine: Option<crate::config::Engine>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a playbook headless (like ansible-playbook).
    Run(RunArgs),
    /// Show an inventory as ansible-inventory does.
    Inventory(InventoryArgs),
    /// Apply (or list with --status) the schema migrations of the databases.
    Migrate(MigrateArgs),
    /// Where the generated secrets of a deployment are stored; show, export or rotate them.
    Secrets(SecretsArgs),
    /// Probe the databases: a table, one round as JSON (--json), or a live view (--watch).
    /// Exit code 0 healthy, 1 degraded, 2 unhealthy, 5 bad input (settings, URLs, inventory).
    Health(HealthArgs),
    /// Run the spec's troubleshooting checks and print each with pass/fail and the fix.
    Doctor(DoctorArgs),
    /// The ansible engine's ansible-playbook.
    Ansible(AnsibleArgs),
    /// Fleets: ansible-runner private data dirs and its event stream (export, follow, worker).
    Runner(RunnerArgs),
    /// The recent runs from their journals (id, start, playbook, engine, result); `runs show ID`
    /// replays one.
    Runs(RunsArgs),
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub command: Option<RunsCommand>,
    /// One JSON object per run.
    #[arg(long)]
    pub json: bool,
    /// How many runs to list, newest first (0: all).
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Replay a run's journal as `run` printed it (exit code: the run's).
    Show {
        /// The run's id (from `slm-wizard runs`), a unique prefix of it, or `last`.
        id: String,
        /// The journal's events as JSON lines, as `run --json` printed them.
        #[arg(long)]
        json: bool,
        /// Show the task headers of every task.
        #[arg(short = 'v', long)]
        verbose: bool,
        /// Show the diffs of changed tasks.
        #[arg(long)]
        diff: bool,
    },
}

#[derive(Debug, Args)]
pub struct RunnerArgs {
    #[command(subcommand)]
    pub command: RunnerCommand,
}

#[derive(Debug, Subcommand)]
pub enum RunnerCommand {
    /// Write the deployment as an ansible-runner private data dir (`ansible-runner run DIR -p
    /// PLAYBOOK` runs it). Secrets are vault-encrypted in project/; DIR/env/vault_password (0600)
    /// holds their vault password, so keep DIR as safe as the secret store.
    Export {
        /// The new (or empty) directory.
        dir: PathBuf,
        /// The playbook.
        playbook: PathBuf,
        /// Inventory file (Ansible YAML); without it the local host.
        #[arg(short, long)]
        inventory: Option<PathBuf>,
        /// Extra variables: key=value, @file.yml, or a YAML/JSON mapping (repeatable).
        #[arg(short = 'e', long = "extra-vars")]
        extra_vars: Vec<String>,
        #[arg(long, env = "ANSIBLE_VAULT_PASSWORD_FILE")]
        vault_password_file: Option<PathBuf>,
        /// Do not generate passwords the survey marks `generate: password`.
        #[arg(long)]
        no_generate: bool,
    },
    /// Show an ansible-runner event stream (what `ansible-runner worker` writes): in the wizard's
    /// Execute screen on a terminal, else as `run` prints a run; the exit code is `run`'s.
    Follow {
        /// The stream file; `-` or nothing for stdin.
        file: Option<PathBuf>,
        /// One JSON object per event (slm-wizard's events) on stdout.
        #[arg(long)]
        json: bool,
        /// Print the run as text even on a terminal.
        #[arg(long)]
        text: bool,
        /// Show the task headers of every task.
        #[arg(short = 'v', long)]
        verbose: bool,
    },
    /// The worker side of ansible-runner's protocol with the native engine: reads what
    /// `ansible-runner transmit` writes on stdin, writes the event stream on stdout.
    Worker {
        /// Seconds to wait for an SSH connection.
        #[arg(long, default_value_t = 10)]
        connect_timeout: u64,
        /// Send a keepalive event after this many seconds without output (0 = never), as
        /// `ansible-runner worker --keepalive-seconds` does.
        #[arg(long, env = "ANSIBLE_RUNNER_KEEPALIVE_SECONDS", default_value_t = 0.0)]
        keepalive_seconds: f64,
    },
}

#[derive(Debug, Args)]
pub struct AnsibleArgs {
    #[command(subcommand)]
    pub command: AnsibleCommand,
}

#[derive(Debug, Subcommand)]
pub enum AnsibleCommand {
    /// Make a venv under the state dir with the pinned ansible from PyPI; the ansible engine finds it.
    Install,
    /// Print the ansible-playbook the ansible engine would run.
    Which,
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
    /// Start at the first task whose name (or `role : name`) is NAME or matches it as a
    /// shell-style pattern; earlier tasks and plays do not run (as ansible-playbook).
    #[arg(long, value_name = "NAME")]
    pub start_at_task: Option<String>,
    /// Check the playbook as the engine would plan it, run nothing; print `playbook: PATH`.
    #[arg(long)]
    pub syntax_check: bool,
    /// List each play's hosts (after --limit), run nothing.
    #[arg(long)]
    pub list_hosts: bool,
    /// List each play's tasks (after --tags/--skip-tags) with their tags, run nothing.
    #[arg(long)]
    pub list_tasks: bool,
    /// List each play's task tags, run nothing.
    #[arg(long)]
    pub list_tags: bool,
    /// Hosts at once (default: ANSIBLE_FORKS, `forks` of ansible.cfg, else 50).
    #[arg(short = 'f', long)]
    pub forks: Option<usize>,
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
    /// Ask for the SSH password once, before the run (like ansible-playbook -k).
    #[arg(short = 'k', long)]
    pub ask_pass: bool,
    /// Ask for the become (sudo) password once, before the run (like ansible-playbook -K).
    #[arg(short = 'K', long)]
    pub ask_become_pass: bool,
    /// Seconds to wait for an SSH connection.
    #[arg(long, default_value_t = 10)]
    pub connect_timeout: u64,
    /// Seconds a single command may run before it is killed (0 = no limit).
    #[arg(long, default_value_t = 0)]
    pub command_timeout: u64,
    /// Show live command output.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Do not generate passwords the survey marks `generate: password` (stored ones are still reused).
    #[arg(long)]
    pub no_generate: bool,
    /// The engine: native, ansible (the real ansible-playbook) or auto (native when its plan
    /// passes, else ansible). Default: SLM_WIZARD_ENGINE, the config file, else auto.
    #[arg(long, value_enum, env = "SLM_WIZARD_ENGINE")]
    pub engine: Option<crate::config::Engine>,
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

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// List applied and pending migrations; apply nothing.
    #[arg(long)]
    pub status: bool,
    /// Seconds to wait for a database connection (and for the SSH login of a tunnel).
    #[arg(long, default_value_t = 10)]
    pub connect_timeout: u64,
    /// The databases and their URLs, as for `health`.
    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Args)]
pub struct SecretsArgs {
    #[command(subcommand)]
    pub command: SecretsCommand,
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Print the store file of a deployment (without a playbook: the directory of all stores).
    Path(SecretsTarget),
    /// List the stored secrets of a deployment, values masked unless --reveal.
    Show {
        #[command(flatten)]
        target: SecretsTarget,
        /// Print the values in clear.
        #[arg(long)]
        reveal: bool,
    },
    /// Write the stored secrets to FILE for `-e @FILE` (vault-encrypted with a vault password, else mode 0600).
    Export {
        #[command(flatten)]
        target: SecretsTarget,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Give generated passwords new values on purpose: a journaled run of the playbook that sets
    /// them (and rewrites the files made from them), then a login with the new ones. The new
    /// values are kept as pending until the run succeeded, so a failed run loses nothing; run
    /// rotate again to finish it. Exit 0 done, 5 bad input, else the run's or the login's failure.
    Rotate(RotateArgs),
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub target: SecretsTarget,
    /// Only this variable (repeatable; default: every password the survey generates).
    #[arg(long = "name", value_name = "VAR")]
    pub names: Vec<String>,
    /// Extra variables of the deployment, as given to `run`.
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
    /// Trust and record host keys seen for the first time.
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// Seconds to wait for an SSH connection.
    #[arg(long, default_value_t = 10)]
    pub connect_timeout: u64,
    /// One JSON object per event on stdout.
    #[arg(long)]
    pub json: bool,
    /// Show live command output.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

/// A deployment: the playbook and the inventory it runs with.
#[derive(Debug, Args)]
pub struct SecretsTarget {
    /// The playbook.
    pub playbook: Option<PathBuf>,
    /// The inventory of the deployment (default: the wizard's, playbooks/inventory/local.yml, when
    /// it exists, else localhost). Secrets belong to the playbook and the hosts it targets, so any
    /// copy of the inventory finds them.
    #[arg(short, long)]
    pub inventory: Option<PathBuf>,
    #[arg(long, env = "ANSIBLE_VAULT_PASSWORD_FILE")]
    pub vault_password_file: Option<PathBuf>,
}

/// Which databases, and where their URLs come from (`health`, `doctor` and `migrate`).
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// The database: slm, slm_users, autobot_users or all.
    #[arg(long, default_value = "all")]
    pub database: String,
    /// Read the database URLs from this file (takes precedence over the environment). Without it,
    /// without URLs in the environment and without -i: /etc/slm/database.env when it exists.
    #[arg(long)]
    pub env_file: Option<PathBuf>,
    /// Read migrations from DIR/<database>/NNNN_name.sql instead of the built-in ones.
    #[arg(long, env = "SLM_WIZARD_MIGRATIONS_DIR")]
    pub migrations_dir: Option<PathBuf>,
    /// The deployment's inventory: its hosts are checked over SSH, and without database URLs in the
    /// environment or --env-file the URLs are the ones the playbook writes for the SLM server (its
    /// template rendered with the inventory and the stored secrets), reached through the SLM server
    /// when it is remote.
    #[arg(short, long)]
    pub inventory: Option<PathBuf>,
    /// The deployment's playbook (with -i).
    #[arg(long, default_value = "playbooks/user-management-db.yml")]
    pub playbook: PathBuf,
    /// Extra variables of the deployment, as given to `run` (with -i).
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,
    /// Reach the databases through an SSH tunnel from this inventory host (needs -i).
    #[arg(long, value_name = "HOST")]
    pub via_ssh: Option<String>,
    #[arg(long, env = "ANSIBLE_VAULT_PASSWORD_FILE")]
    pub vault_password_file: Option<PathBuf>,
    /// Trust and record host keys seen for the first time.
    #[arg(long)]
    pub accept_new_host_keys: bool,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Print one probe round as JSON (the SLM backend's /api/health shapes).
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,
    /// Refresh the table until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
    /// Seconds between probes of a database (with --watch).
    #[arg(long, default_value_t = 5.0)]
    pub interval: f64,
    /// Seconds a probe may take before its database counts as unhealthy (timeout).
    #[arg(long, default_value_t = 5.0)]
    pub timeout: f64,
    /// Connect or SELECT 1 slower than this many milliseconds counts as degraded.
    #[arg(long, default_value_t = 500)]
    pub slow_ms: u64,
    /// Seconds of samples kept for the sparklines (with --watch).
    #[arg(long, default_value_t = 600)]
    pub retention: u64,
    /// Also probe the SLM backend's /api/health and /api/health/database at this base URL.
    #[arg(long, value_name = "URL", env = "SLM_API_URL")]
    pub api_url: Option<String>,
    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Only this inventory host for the service check (needs -i).
    pub host: Option<String>,
    /// Seconds each check may take.
    #[arg(long, default_value_t = 5.0)]
    pub timeout: f64,
    #[command(flatten)]
    pub source: SourceArgs,
}
