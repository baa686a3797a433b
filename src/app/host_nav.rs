//! The host tabs Review and Execute both show: the hosts in the order the run reported them,
//! ←/→ pick the one whose results fill the pane, and a newly picked host's pane starts over.

use super::keymap::Intent;

/// Adds a host the run reported, once.
pub(crate) fn add(hosts: &mut Vec<String>, host: &str) {
    if !hosts.iter().any(|h| h == host) {
        hosts.push(host.to_string());
    }
}

/// ←/→ between `hosts` hosts: whether `intent` was one of them. The pane's `scroll` is reset
/// when the selection moves (and on ← at the first host, as before).
pub(crate) fn key(intent: Intent, hosts: usize, selected: &mut usize, scroll: &mut u16) -> bool {
    match intent {
        Intent::PrevHost => {
            *selected = selected.saturating_sub(1);
            *scroll = 0;
        }
        Intent::NextHost => {
            if *selected + 1 < hosts {
                *selected += 1;
                *scroll = 0;
            }
        }
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_added_once_and_the_selection_stays_in_range() {
        let mut hosts = Vec::new();
        add(&mut hosts, "a");
        add(&mut hosts, "b");
        add(&mut hosts, "a");
        assert_eq!(hosts, ["a", "b"]);
        let (mut sel, mut scroll) = (0, 7);
        assert!(key(Intent::NextHost, hosts.len(), &mut sel, &mut scroll));
        assert_eq!((sel, scroll), (1, 0));
        scroll = 3;
        assert!(key(Intent::NextHost, hosts.len(), &mut sel, &mut scroll));
        assert_eq!((sel, scroll), (1, 3), "at the last host nothing moves");
        assert!(key(Intent::PrevHost, hosts.len(), &mut sel, &mut scroll));
        assert_eq!((sel, scroll), (0, 0));
        assert!(!key(Intent::Up, hosts.len(), &mut sel, &mut scroll));
    }
}
