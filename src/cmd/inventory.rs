//! `slm-wizard inventory --list|--host` (ansible-inventory's output).

use std::process::ExitCode;

use super::{bad_input, print_line, vault_password};
use crate::cli::InventoryArgs;
use crate::error::InputError;
use crate::{engine, inventory, secrets};

pub fn inventory(args: InventoryArgs) -> ExitCode {
    let pw = match vault_password(&args.vault_password_file) {
        Ok(p) => p,
        Err(e) => return bad_input(&e),
    };
    let vault = engine::plan::make_vault_fn(pw, secrets::Redactor::default());
    let inv = match inventory::Inventory::load(&args.inventory, &vault) {
        Ok(i) => i,
        Err(e) => return bad_input(&e),
    };
    let value = match &args.host {
        Some(h) if inv.hosts.contains_key(h) => serde_json::Value::Object(inv.host_vars(h)),
        Some(h) => {
            return bad_input(&InputError::new(format!(
                "host '{h}' is not in the inventory"
            )));
        }
        None => inv.to_list_json(),
    };
    if !args.list && args.host.is_none() {
        return bad_input(&InputError::new("give --list or --host NAME"));
    }
    print_line(&serde_json::to_string_pretty(&value).unwrap_or_default());
    ExitCode::SUCCESS
}
