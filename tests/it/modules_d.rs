//! The system modules of issue #17 (timezone, locale_gen, reboot) on a test host, run by
//! ansible-playbook and by the native engine on the same host, their registered results
//! compared key by key. Each playbook first puts the host back where it started, since both
//! engines change the same system files.

use crate::modules_b::{both, setup};

use serde_json::Value;

/// Compares `keys` of each registered result (missing = null; a flag left out is false).
#[track_caller]
fn same_keys(want: &Value, got: &Value, keys: &[&str]) {
    let (w, g) = (
        want.as_array().expect("a list"),
        got.as_array().expect("a list"),
    );
    assert_eq!(w.len(), g.len(), "ansible {want:#}\nnative {got:#}");
    for (i, (w, g)) in w.iter().zip(g).enumerate() {
        let get = |r: &Value, k: &str| match r.get(k) {
            None | Some(Value::Null) if ["failed", "skipped"].contains(&k) => Value::Bool(false),
            // OpenSSH's `-tt` adds its own line to the stderr Ansible's messages quote.
            Some(Value::String(s)) => Value::String(without_ssh_noise(s)),
            v => v.cloned().unwrap_or(Value::Null),
        };
        for k in keys {
            assert_eq!(
                get(w, k),
                get(g, k),
                "result {i}, key {k}\nansible {w:#}\nnative {g:#}"
            );
        }
    }
}

/// `text` without OpenSSH's "Shared connection to ADDR closed." (ansible-playbook's ssh).
fn without_ssh_noise(text: &str) -> String {
    match text.find("Shared connection to ") {
        Some(i) => match text[i..].find(" closed.") {
            Some(j) => format!("{}{}", &text[..i], &text[i + j + " closed.".len()..]),
            None => text.to_string(),
        },
        None => text.to_string(),
    }
}

const TIMEZONE_PB: &str = r#"- hosts: h1
  gather_facts: false
  tasks:
    - name: the host as it started
      shell: ln -sf /usr/share/zoneinfo/Etc/UTC /etc/localtime && echo Etc/UTC > /etc/timezone && rm -f /etc/default/rcS /etc/adjtime
    - name: check mode
      timezone: {name: Asia/Tokyo}
      check_mode: true
      register: r1
    - name: set
      timezone: {name: Asia/Tokyo}
      register: r2
    - name: again
      community.general.timezone: {name: Asia/Tokyo}
      register: r3
    - name: /etc/timezone says one zone, the link another
      shell: echo Europe/Paris > /etc/timezone
    - timezone: {name: Europe/Paris}
      register: r4
      check_mode: true
    - name: an unknown zone
      timezone: {name: Nowhere/Atlantis}
      register: r5
      ignore_errors: true
    - name: hwclock in check mode (no /etc/default/rcS)
      timezone: {hwclock: local, name: Asia/Tokyo}
      register: r6
      check_mode: true
    - name: hwclock as the file already says, adjtime decides
      shell: printf 'UTC=no\n' > /etc/default/rcS && printf '0.0 0 0.0\n0\nLOCAL\n' > /etc/adjtime
    - timezone: {rtc: local}
      register: r7
    - name: a zone as a copy, not a link
      shell: rm /etc/localtime && cp /usr/share/zoneinfo/Asia/Tokyo /etc/localtime && echo Asia/Tokyo > /etc/timezone
    - timezone: {name: Asia/Tokyo}
      register: r8
    - name: hwclock to change (rcS edited, then hwclock --systohc, which a test host cannot run)
      timezone: {hwclock: UTC}
      register: r9
      ignore_errors: true
    - shell: "readlink /etc/localtime; cat /etc/timezone /etc/default/rcS"
      register: files
    - copy:
        dest: "{{ d }}/out.json"
        content: "{{ [r1, r2, r3, r4, r5, r6, r7, r8, r9, {'files': files.stdout_lines}] | to_json }}"
"#;

/// timezone the Debian way (a test host runs no systemd, so timedatectl does not answer):
/// check mode's planned diff, a change through /etc/timezone + the /etc/localtime link +
/// dpkg-reconfigure, no change again, a link that disagrees with /etc/timezone, an unknown
/// zone, hwclock read from /etc/default/rcS then /etc/adjtime (the `rtc` alias), a copied zone
/// file — `changed`, `failed`, `msg` and the `diff` mapping as Ansible's, and the same files.
#[test]
fn timezone_matches_ansible_playbook() {
    let Some((h, ansible)) = setup("modules_d::timezone_matches_ansible_playbook") else {
        return;
    };
    let (want, got) = both(&h, &ansible, TIMEZONE_PB, &[]);
    same_keys(&want, &got, &["changed", "failed", "msg", "diff", "rc"]);
    assert_eq!(want[9], got[9], "files");
    assert_eq!(got[1]["changed"], true, "{got:#}");
    assert_eq!(got[2]["changed"], false, "{got:#}");
}

const LOCALE_PB: &str = r#"- hosts: h1
  gather_facts: false
  tasks:
    - name: the host as it started
      shell: cp /root/locale.gen.orig /etc/locale.gen && locale-gen
    - name: check mode (the module reports no change there)
      locale_gen: {name: de_CH.UTF-8}
      check_mode: true
      register: r1
    - locale_gen: {name: de_CH.UTF-8}
      register: r2
    - name: again, as a list
      community.general.locale_gen: {name: [de_CH.UTF-8]}
      register: r3
    - name: absent with one of two present changes nothing (all present or not)
      locale_gen: {name: "de_CH.UTF-8,fr_FR.UTF-8", state: absent}
      register: r4
    - name: C.UTF-8 is not in SUPPORTED but locale -a lists it
      locale_gen: {name: C.UTF-8}
      register: r5
    - locale_gen: {name: xx_YY.UTF-8}
      register: r6
      ignore_errors: true
    - shell: "grep -n 'de_CH' /etc/locale.gen; locale -a | grep -c de_CH || true"
      register: mid
    - locale_gen: {name: de_CH.UTF-8, state: absent}
      register: r7
    - shell: "grep -n 'de_CH' /etc/locale.gen; locale -a | grep -c de_CH || true"
      register: end
    - copy:
        dest: "{{ d }}/out.json"
        content: "{{ [r1, r2, r3, r4, r5, r6, r7, {'mid': mid.stdout_lines, 'end': end.stdout_lines}] | to_json }}"
"#;

/// locale_gen with the glibc mechanism: check mode (which the module reports unchanged), a
/// locale generated, again as a list, `absent` with only some present, a locale only `locale
/// -a` knows, an unknown one, removal — every `changed`, `failed`, `msg`, `name`,
/// `mechanism`, and /etc/locale.gen and `locale -a` as Ansible leaves them.
#[test]
fn locale_gen_matches_ansible_playbook() {
    let Some((h, ansible)) = setup("modules_d::locale_gen_matches_ansible_playbook") else {
        return;
    };
    if !std::path::Path::new("/etc/locale.gen").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no /etc/locale.gen: CI installs the package locales"
        );
        eprintln!("SKIPPED: the package locales is not installed (no /etc/locale.gen)");
        return;
    }
    h.sh("h1", "cp /etc/locale.gen /root/locale.gen.orig");
    let (want, got) = both(&h, &ansible, LOCALE_PB, &[]);
    same_keys(
        &want,
        &got,
        &[
            "changed",
            "failed",
            "msg",
            "name",
            "mechanism",
            "ubuntu_mode",
        ],
    );
    assert_eq!(want[7], got[7], "files");
    assert_eq!(got[1]["changed"], true, "{got:#}");
    assert_eq!(got[6]["changed"], true, "{got:#}");
}

/// A reboot as a test host can have one: every SSH session cut (the connections' sshd processes,
/// `sshd: root@notty`, `sshd: root [priv]`, killed; the listener, `sshd: /usr/sbin/sshd … [listener]`,
/// stays, so nothing has to bring it back), then a new boot id.
/// An earlier version also killed the listener and had the host's init restart it; under the
/// full suite's load ansible-playbook then sometimes never saw the host again.
/// SIGHUP is ignored before the fork: ansible-playbook runs the command on a pty, and when the
/// script exits the pty's hangup reached the background job before `setsid` had detached it
/// (under load), so the boot id never changed and ansible's reboot timed out.
const FAKE_REBOOT: &str = "#!/bin/sh\n\
trap '' HUP\n\
setsid sh -c 'sleep 1; pkill -9 -f \"^sshd: [^/]\"; echo \"boot-$(date +%s%N)\" > /root/boot_id' \
</dev/null >/dev/null 2>&1 &\n";

const REBOOT_PB: &str = r#"- hosts: h1
  gather_facts: false
  tasks:
    - name: reboot, wait for the new boot id and the test command on a new connection
      reboot:
        reboot_command: fake-reboot
        boot_time_command: cat /root/boot_id
        post_reboot_delay: 1
        reboot_timeout: 180
      register: r1
    - name: the host's connection after the reboot
      command: cat /root/boot_id
      register: after
    - reboot: {}
      check_mode: true
      register: r2
    - reboot: {reboot_command: no-such-reboot --now}
      register: r3
      ignore_errors: true
    - reboot: {reboot_command: /bin/false, boot_time_command: cat /root/boot_id}
      register: r4
      ignore_errors: true
    - name: the boot id never changes
      reboot: {reboot_command: /bin/true, boot_time_command: cat /root/boot_id, reboot_timeout: 2}
      register: r5
      ignore_errors: true
    - reboot: {boot_time_command: "false"}
      register: r6
      ignore_errors: true
    - copy:
        dest: "{{ d }}/out.json"
        content: "{{ [r1, r2, r3, r4, r5, r6, {'boot_changed': after.stdout != 'boot-0'}] | to_json }}"
"#;

/// reboot through a `reboot_command` that cuts every SSH session of the host and changes its boot id: the engine
/// waits for a new boot id over a new connection, runs the test command, and keeps that
/// connection for the next task; check mode; a command not in the search paths; a failing
/// command; a boot id that never changes (timeout); a failing boot_time_command — `changed`,
/// `failed`, `rebooted`, `msg` as Ansible's.
#[test]
fn reboot_matches_ansible_playbook() {
    let Some((h, ansible)) = setup("modules_d::reboot_matches_ansible_playbook") else {
        return;
    };
    h.sh(
        "h1",
        &format!(
            "echo boot-0 > /root/boot_id && cat > /usr/local/sbin/fake-reboot <<'EOF'\n{FAKE_REBOOT}EOF\n\
             chmod 755 /usr/local/sbin/fake-reboot && [ \"$(cat /proc/1/comm)\" = bash ]"
        ),
    );
    let (want, got) = both(&h, &ansible, REBOOT_PB, &[]);
    same_keys(
        &want,
        &got,
        &["changed", "failed", "rebooted", "reboot", "msg"],
    );
    assert_eq!(got[0]["rebooted"], true, "{got:#}");
    assert_eq!(got[6]["boot_changed"], true, "{got:#}");
    // Ansible times what follows the reboot command; a failure before it has no `elapsed`.
    for i in [0, 1, 3, 4] {
        assert!(got[i]["elapsed"].is_u64(), "result {i}: {got:#}");
    }
}

const UFW_PB: &str = r#"- hosts: h1
  gather_facts: false
  tasks:
    - name: the host as it started
      shell: ufw --force reset && ufw disable && rm -f /etc/ufw/*.rules.2* /etc/ufw/*.rules.*_*
    - name: a rule, check mode
      ufw: {rule: allow, port: 22, proto: tcp, comment: ssh}
      check_mode: true
      register: r1
    - ufw: {rule: allow, port: 22, proto: tcp, comment: ssh}
      register: r2
    - name: the rule again
      community.general.ufw: {rule: allow, port: "22", proto: tcp, comment: ssh}
      register: r3
    - ufw: {state: enabled}
      check_mode: true
      register: r4
    - ufw: {state: enabled}
      register: r5
    - ufw: {state: enabled}
      register: r6
    - ufw: {policy: deny, direction: incoming}
      check_mode: true
      register: r7
    - ufw: {default: allow, direction: outgoing}
      register: r8
    - ufw: {logging: low}
      register: r9
    - ufw: {logging: low}
      check_mode: true
      register: r10
    - name: an IPv4 rule, check mode
      ufw: {rule: deny, from_ip: 10.1.2.3, to_port: 5432, proto: tcp}
      check_mode: true
      register: r11
    - name: deleting the rule, check mode
      ufw: {rule: allow, port: 22, proto: tcp, delete: true}
      check_mode: true
      register: r12
    - ufw: {rule: allow, direction: incoming}
      register: r13
      ignore_errors: true
    - ufw: {rule: limit, port: 2222, proto: tcp, insert: 1}
      register: r14
    - ufw: {state: disabled}
      register: r15
    - ufw: {state: reset}
      check_mode: true
      register: r16
    - command: ufw status numbered
      register: st
    - copy:
        dest: "{{ d }}/out.json"
        content: "{{ [r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, r14, r15, r16, {'status': st.stdout_lines}] | to_json }}"
"#;

/// The ufw .deb for test host h1 (downloaded on the machine into the host's dir under the
/// harness's state dir, which the host sees; the machine itself installs nothing), or None
/// when it cannot be had.
fn ufw_deb(h: &crate::support::hosts::Hosts) -> Option<std::path::PathBuf> {
    let dir = h.state_dir().join("hosts/h1/debs");
    std::fs::create_dir_all(&dir).ok()?;
    let out = std::process::Command::new("apt-get")
        .args(["download", "ufw"])
        .current_dir(&dir)
        .output()
        .ok()?;
    let deb = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"));
    if deb.is_none() {
        let why = String::from_utf8_lossy(&out.stderr);
        // CI installs what the tests need: there a missing package is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "no ufw package (apt-get download ufw: {why})"
        );
        eprintln!("SKIPPED: no ufw package (apt-get download ufw: {why})");
    }
    deb
}

/// ufw installed in a test host (its own network namespace, so its firewall is the host's):
/// rules in check mode and for real, again (no change), enable/disable, default policies (the
/// `policy` alias), logging, an IPv4 rule's dry run, a deletion's dry run, a bad direction,
/// an inserted rule, reset in check mode — `changed`, `failed`, `msg` (the status after) and
/// the `commands` run, as Ansible's, and the same rules in the end.
#[test]
fn ufw_matches_ansible_playbook() {
    let Some((h, ansible)) = setup("modules_d::ufw_matches_ansible_playbook") else {
        return;
    };
    let Some(deb) = ufw_deb(&h) else {
        return;
    };
    h.sh(
        "h1",
        &format!(
            "DEBIAN_FRONTEND=noninteractive dpkg -i {} 2>&1; test -x /usr/sbin/ufw",
            deb.display()
        ),
    );
    let (want, got) = both(&h, &ansible, UFW_PB, &[]);
    same_keys(&want, &got, &["changed", "failed", "msg", "commands"]);
    assert_eq!(want[16], got[16], "rules");
    assert_eq!(got[1]["changed"], true, "{got:#}");
    assert_eq!(got[2]["changed"], false, "{got:#}");
}
