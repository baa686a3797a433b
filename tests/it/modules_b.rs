//! The modules of issue #17's second batch (get_url, unarchive, …) on a test host, each playbook
//! run by ansible-playbook and by the native engine on the same host (in different
//! directories), their registered results compared key by key.

use crate::support::hosts::{CmdOutput, Hosts, root_or_skip, run_with_timeout};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::cmd::ansible_playbook;
use serde_json::Value;

/// A harness with one host and ansible-playbook, or None (the test is skipped).
pub(crate) fn setup(test: &str) -> Option<(Hosts, PathBuf)> {
    if !root_or_skip(test) {
        return None;
    }
    let ansible = ansible_playbook()?;
    Some((Hosts::up(1, &[], &[]), ansible))
}

fn run_ansible(h: &Hosts, ansible: &Path, pb: &Path, args: &[&str]) -> CmdOutput {
    let mut cmd = Command::new(ansible);
    cmd.arg(pb)
        .arg("-i")
        .arg(h.inventory())
        .args(["-e", "ansible_python_interpreter=/usr/bin/python3"])
        .args(args)
        .current_dir(h.dir())
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_LOCAL_TEMP", h.p("ansible-tmp"))
        // Control sockets of this harness only: another test's host that had the same address
        // (slots are reused) must never answer through a ControlPersist master left behind.
        .env("ANSIBLE_SSH_CONTROL_PATH_DIR", h.p("cp"));
    run_with_timeout(cmd, Duration::from_secs(400))
}

/// Runs `playbook` with both engines on h1 (`d` is /tmp/ansible or /tmp/native there) and
/// returns the JSON each left in `{{ d }}/out.json`, with `d` replaced by `D`.
pub(crate) fn both(h: &Hosts, ansible: &Path, playbook: &str, args: &[&str]) -> (Value, Value) {
    let pb = h.write("pb.yml", playbook);
    h.sh(
        "h1",
        "rm -rf /tmp/ansible /tmp/native; mkdir -p /tmp/ansible /tmp/native",
    );
    let a = run_ansible(h, ansible, &pb, &[&["-e", "d=/tmp/ansible"], args].concat());
    assert!(
        a.ok(),
        "ansible-playbook failed:\n{}\n{}",
        a.stdout,
        a.stderr
    );
    let native = h.run_path(
        &pb,
        &h.inventory(),
        &[&["--engine", "native", "-e", "d=/tmp/native"], args].concat(),
    );
    native.assert_code(0);
    let read = |d: &str| -> Value {
        let text = h.sh("h1", &format!("cat {d}/out.json")).replace(d, "D");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{d}/out.json: {e}: {text}"))
    };
    (read("/tmp/ansible"), read("/tmp/native"))
}

/// Compares `keys` of each registered result (missing = null).
#[track_caller]
fn same_keys(want: &Value, got: &Value, keys: &[&str]) {
    let (w, g) = (
        want.as_array().expect("a list"),
        got.as_array().expect("a list"),
    );
    assert_eq!(w.len(), g.len(), "ansible {want:#}\nnative {got:#}");
    for (i, (w, g)) in w.iter().zip(g).enumerate() {
        // A flag left out is false (the engine registers `failed: false` on skipped tasks too).
        let get = |r: &Value, k: &str| match r.get(k) {
            None | Some(Value::Null) if ["failed", "skipped"].contains(&k) => Value::Bool(false),
            v => temp_names(v.unwrap_or(&Value::Null)),
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

/// A text with the temporary files of either engine (Ansible's `…/.ansible/tmp/…`, ours
/// `.slm-wizard-…`) named `TMP`.
fn temp_names(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(
            s.split(' ')
                .map(|w| {
                    if w.contains(".ansible") || w.contains(".slm-wizard-") {
                        "TMP"
                    } else {
                        w
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        other => other.clone(),
    }
}

const GET_URL_PB: &str = r#"- hosts: h1
  gather_facts: false
  vars:
    base: http://127.0.0.1:8931
    results: []
  tasks:
    - name: new file
      get_url: {url: "{{ base }}/a.txt", dest: "{{ d }}/a.txt", mode: "0640"}
      register: r1
    - name: again (If-Modified-Since)
      get_url: {url: "{{ base }}/a.txt", dest: "{{ d }}/a.txt", mode: "0640"}
      register: r2
    - name: checksum matches
      get_url: {url: "{{ base }}/a.txt", dest: "{{ d }}/a.txt", checksum: "sha256:{{ sum }}"}
      register: r3
    - name: checksum matches, attributes differ
      get_url: {url: "{{ base }}/a.txt", dest: "{{ d }}/a.txt", checksum: "sha256:{{ sum }}", mode: "0600"}
      register: r4
    - name: checksum from a URL
      get_url: {url: "{{ base }}/a.txt", dest: "{{ d }}/b.txt", checksum: "sha256:{{ base }}/SHA256SUMS"}
      register: r5
    - name: destination is a directory
      get_url: {url: "{{ base }}/a.txt", dest: "{{ d }}/"}
      register: r6
    - name: wrong checksum
      get_url: {url: "{{ base }}/a.txt", dest: "{{ d }}/c.txt", checksum: "sha1:0123456789abcdef"}
      register: r7
      ignore_errors: true
    - name: force, same content
      get_url: {url: "{{ base }}/a.txt", dest: "{{ d }}/a.txt", force: true}
      register: r8
    - name: not found
      get_url: {url: "{{ base }}/missing.txt", dest: "{{ d }}/m.txt"}
      register: r9
      ignore_errors: true
    - name: check mode
      get_url: {url: "{{ base }}/a.txt", dest: "{{ d }}/check.txt"}
      register: r10
      check_mode: true
    - name: force, new content, backup
      get_url: {url: "{{ base }}/new.txt", dest: "{{ d }}/a.txt", force: true, backup: true}
      register: r11
    - stat: {path: "{{ d }}/a.txt"}
      register: s1
    - stat: {path: "{{ d }}/check.txt"}
      register: s2
    - copy:
        dest: "{{ d }}/out.json"
        content: "{{ [r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, {'mode': s1.stat.mode, 'exists': s2.stat.exists, 'backup': r11.backup_file is defined}] | to_json }}"
"#;

/// get_url against python's http.server on the host: a new file with a mode, the second run
/// answered 304, a matching checksum (with and without an attribute change), a checksum file
/// from a URL, a directory destination, a wrong checksum, force, a 404, check mode, backup —
/// every registered `changed`, `failed`, `msg`, `dest`, checksums and `status_code` as Ansible's.
#[test]
fn get_url_matches_ansible_playbook() {
    let Some((h, ansible)) = setup("modules_b::get_url_matches_ansible_playbook") else {
        return;
    };
    h.sh(
        "h1",
        "mkdir -p /srv/www && cd /srv/www && printf 'hello\\n' > a.txt && printf 'new\\n' > new.txt \
         && sha256sum a.txt > SHA256SUMS && touch -d '2020-01-01' a.txt \
         && (setsid python3 -m http.server 8931 --bind 127.0.0.1 --directory /srv/www \
             </dev/null >/srv/http.log 2>&1 &) \
         && for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:8931/a.txt && exit 0; sleep 0.1; done; exit 1",
    );
    let sum = h.sh("h1", "sha256sum /srv/www/a.txt | cut -d' ' -f1");
    let sum_arg = format!("sum={}", sum.trim());
    let (want, got) = both(&h, &ansible, GET_URL_PB, &["-e", &sum_arg]);
    same_keys(
        &want,
        &got,
        &[
            "changed",
            "failed",
            "msg",
            "dest",
            "checksum_src",
            "checksum_dest",
            "md5sum",
            "status_code",
            "url",
            "mode",
            "exists",
            "backup",
        ],
    );
}

const UNARCHIVE_PB: &str = r#"- hosts: h1
  gather_facts: false
  tasks:
    - file: {path: "{{ d }}/{{ item }}", state: directory}
      loop: [tgz, zip, ctl, zip2, tgz2]
    - name: remote tar.gz
      unarchive: {src: /srv/arc/a.tgz, dest: "{{ d }}/tgz", remote_src: true}
      register: r1
    - name: again
      unarchive: {src: /srv/arc/a.tgz, dest: "{{ d }}/tgz", remote_src: true}
      register: r2
    - copy: {dest: "{{ d }}/tgz/t/x.txt", content: "changed\n"}
    - name: a file changed
      unarchive: {src: /srv/arc/a.tgz, dest: "{{ d }}/tgz", remote_src: true}
      register: r3
    - name: remote zip
      unarchive: {src: /srv/arc/a.zip, dest: "{{ d }}/zip", remote_src: true}
      register: r4
    - name: zip again
      unarchive: {src: /srv/arc/a.zip, dest: "{{ d }}/zip", remote_src: true}
      register: r5
    - name: from the controller, listed
      unarchive: {src: c.tgz, dest: "{{ d }}/ctl", list_files: true}
      register: r6
    - name: from the controller again
      unarchive: {src: c.tgz, dest: "{{ d }}/ctl"}
      register: r7
    - name: creates
      unarchive: {src: /srv/arc/a.tgz, dest: "{{ d }}/tgz", remote_src: true, creates: "{{ d }}/tgz/t"}
      register: r8
    - name: no destination
      unarchive: {src: /srv/arc/a.tgz, dest: "{{ d }}/missing", remote_src: true}
      register: r9
      ignore_errors: true
    - name: zip, check mode
      unarchive: {src: /srv/arc/a.zip, dest: "{{ d }}/zip2", remote_src: true}
      register: r10
      check_mode: true
    - name: tar, check mode
      unarchive: {src: /srv/arc/a.tgz, dest: "{{ d }}/tgz2", remote_src: true}
      register: r11
      check_mode: true
    - name: mode
      unarchive: {src: /srv/arc/a.tgz, dest: "{{ d }}/tgz", remote_src: true, mode: "0750"}
      register: r12
    - name: mode again
      unarchive: {src: /srv/arc/a.tgz, dest: "{{ d }}/tgz", remote_src: true, mode: "0750"}
      register: r13
    - stat: {path: "{{ d }}/zip2/t"}
      register: s1
    - stat: {path: "{{ d }}/tgz/t/sub/y.txt"}
      register: s2
    - copy:
        dest: "{{ d }}/out.json"
        content: "{{ [r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, {'exists': s1.stat.exists, 'mode': s2.stat.mode}] | to_json }}"
"#;

/// unarchive of tar.gz and zip archives on the host and from the controller: unpacked, then
/// nothing to do, a changed file unpacked again, list_files, creates, a missing destination,
/// check mode (zip: reported; tar: skipped, as Ansible's gtar handler does) and mode.
#[test]
fn unarchive_matches_ansible_playbook() {
    let Some((h, ansible)) = setup("modules_b::unarchive_matches_ansible_playbook") else {
        return;
    };
    h.sh(
        "h1",
        "mkdir -p /srv/arc/t/sub && cd /srv/arc && printf 'x\\n' > t/x.txt && printf 'y\\n' > t/sub/y.txt \
         && touch -d '2021-02-03 04:05:06' t/x.txt t/sub/y.txt && tar czf a.tgz t && zip -qr a.zip t",
    );
    let src = h.p("src");
    std::fs::create_dir_all(src.join("c/d")).expect("mkdir");
    std::fs::write(src.join("c/d/z.txt"), "z\n").expect("write");
    std::fs::create_dir_all(h.p("files")).expect("mkdir files");
    let ok = Command::new("tar")
        .arg("czf")
        .arg(h.p("files/c.tgz"))
        .arg("-C")
        .arg(&src)
        .arg("c")
        .status()
        .expect("tar");
    assert!(ok.success());
    let (want, got) = both(&h, &ansible, UNARCHIVE_PB, &[]);
    same_keys(
        &want,
        &got,
        &[
            "changed", "failed", "skipped", "msg", "handler", "files", "dest", "mode", "state",
            "exists",
        ],
    );
}

const APT_PB: &str = r##"- hosts: h1
  gather_facts: false
  vars:
    repo: "deb [trusted=yes] file:///srv/repo ./"
  tasks:
    - name: add a repository (cache refreshed)
      apt_repository: {repo: "{{ repo }}"}
      register: r1
    - name: again
      apt_repository: {repo: "{{ repo }}"}
      register: r2
    - name: check mode, another
      apt_repository: {repo: "deb [trusted=yes] file:///srv/other ./", update_cache: false}
      register: r3
      check_mode: true
    - name: remove it
      apt_repository: {repo: "{{ repo }}", state: absent}
      register: r4
    - name: remove again
      apt_repository: {repo: "{{ repo }}", state: absent}
      register: r5
    - name: own file name and mode
      apt_repository: {repo: "{{ repo }}", filename: local, mode: "0600", update_cache: false}
      register: r6
    - stat: {path: /etc/apt/sources.list.d/local.list}
      register: s1
    - name: a disabled line enabled where it is
      copy: {dest: /etc/apt/sources.list.d/local.list, content: "# {{ repo }} # kept\n"}
    - apt_repository: {repo: "{{ repo }}", update_cache: false}
      register: r7
    - command: cat /etc/apt/sources.list.d/local.list
      register: c1
      changed_when: false
    - apt_repository: {repo: "{{ repo }}", state: absent, update_cache: false}
      register: r8
    - name: invalid
      apt_repository: {repo: "debx file:///srv/repo ./"}
      register: r9
      ignore_errors: true
    - name: a key from a file
      apt_key: {file: /srv/key.asc, keyring: "{{ d }}/k.gpg"}
      register: k1
    - name: again
      apt_key: {file: /srv/key.asc, keyring: "{{ d }}/k.gpg"}
      register: k2
    - name: by id, check mode
      apt_key: {id: "{{ keyid }}", keyring: "{{ d }}/k.gpg", state: absent}
      register: k3
      check_mode: true
    - name: by id
      apt_key: {id: "{{ keyid }}", keyring: "{{ d }}/k.gpg", state: absent}
      register: k4
    - name: by id again
      apt_key: {id: "{{ keyid }}", keyring: "{{ d }}/k.gpg", state: absent}
      register: k5
    - name: bad id
      apt_key: {id: "12345", keyring: "{{ d }}/k.gpg"}
      register: k6
      ignore_errors: true
    - copy:
        dest: "{{ d }}/out.json"
        content: "{{ [r1, r2, r3, r4, r5, r6, r7, r8, r9, k1, k2, k3, k4, k5, k6, {'mode': s1.stat.mode, 'text': c1.stdout}] | to_json }}"
"##;

/// apt_repository with a local `file://` repository (the host's own apt sources set aside
/// first: the host is offline) and apt_key with a key made on the host, in a keyring of its
/// own: added, nothing to do, removed, check mode, file name and mode, a disabled line
/// enabled in place, an invalid line, a bad key id.
#[test]
fn apt_repository_and_apt_key_match_ansible_playbook() {
    let Some((h, ansible)) = setup("modules_b::apt_repository_and_apt_key_match_ansible_playbook")
    else {
        return;
    };
    // Inside the host only (its root is an overlay): the machine's sources are untouched.
    h.sh(
        "h1",
        "rm -f /etc/apt/sources.list /etc/apt/sources.list.d/* && mkdir -p /srv/repo /srv/other \
         && cd /srv/repo && : > Packages \
         && export GNUPGHOME=$(mktemp -d) \
         && gpg -q --batch --passphrase '' --quick-gen-key 'Test <t@example.org>' ed25519 sign never 2>/dev/null \
         && gpg -q --armor --export > /srv/key.asc",
    );
    let keyid = h.sh(
        "h1",
        "gpg --with-colons /srv/key.asc 2>/dev/null | awk -F: '$1 == \"pub\" {print $5}'",
    );
    let keyid_arg = format!("keyid={}", keyid.trim());
    let (want, got) = both(&h, &ansible, APT_PB, &["-e", &keyid_arg]);
    same_keys(
        &want,
        &got,
        &[
            "changed",
            "failed",
            "msg",
            "sources_added",
            "sources_removed",
            "state",
            "repo",
            "id",
            "short_id",
            "fp",
            "key_id",
            "before",
            "after",
            "mode",
            "text",
        ],
    );
    // Not vacuous: added (cache refreshed), removed, the key added and deleted.
    for i in [0, 3, 5, 6, 9, 12] {
        assert_eq!(got[i]["changed"], true, "result {i}: {:#}", got[i]);
    }
    assert_eq!(got[15]["mode"], "0600");
}

const SYSCTL_PB: &str = r##"- hosts: h1
  gather_facts: false
  vars:
    f: "{{ d }}/sysctl.conf"
  tasks:
    - command: sysctl -w net.ipv4.ip_forward=0 "net.ipv4.ip_local_port_range=32768 60999"
    - copy: {dest: "{{ f }}", content: "# kept\nnet.ipv4.tcp_syncookies = 1\nnet.ipv4.tcp_syncookies=1\n"}
    - name: a new key, reloaded
      sysctl: {name: net.ipv4.ip_forward, value: "1", sysctl_file: "{{ f }}"}
      register: r1
    - name: again
      sysctl: {name: net.ipv4.ip_forward, value: "1", sysctl_file: "{{ f }}"}
      register: r2
    - name: a boolean
      sysctl: {name: net.ipv4.ip_forward, value: yes, sysctl_file: "{{ f }}"}
      register: r3
    - name: words, set
      sysctl: {name: net.ipv4.ip_local_port_range, value: "1024   65000", sysctl_set: true, reload: false, sysctl_file: "{{ f }}"}
      register: r4
    - name: words again
      sysctl: {name: net.ipv4.ip_local_port_range, value: "1024   65000", sysctl_set: true, reload: false, sysctl_file: "{{ f }}"}
      register: r5
    - name: check mode
      sysctl: {name: net.ipv4.ip_forward, value: "0", sysctl_file: "{{ f }}"}
      register: r6
      check_mode: true
    - name: absent
      sysctl: {name: net.ipv4.ip_forward, state: absent, sysctl_file: "{{ f }}"}
      register: r7
    - name: an unknown key
      sysctl: {name: net.ipv4.nope, value: "1", sysctl_file: "{{ d }}/bad.conf"}
      register: r8
      ignore_errors: true
    - name: an unknown key, errors ignored
      sysctl: {name: net.ipv4.nope, value: "1", sysctl_file: "{{ d }}/bad2.conf", ignoreerrors: true}
      register: r9
    - command: cat {{ f }}
      register: c1
    - command: sysctl -n net.ipv4.ip_forward net.ipv4.ip_local_port_range
      register: c2
    - copy:
        dest: "{{ d }}/out.json"
        content: "{{ [r1, r2, r3, r4, r5, r6, r7, r8, r9, {'text': c1.stdout, 'proc': c2.stdout}] | to_json }}"
"##;

/// sysctl with `net.*` keys in the test host's own network namespace and a sysctl file of its
/// own: a new key (reloaded), nothing to do, a boolean value, a value of several words set with
/// sysctl_set, check mode, absent, an unknown key with and without ignoreerrors.
#[test]
fn sysctl_matches_ansible_playbook() {
    let Some((h, ansible)) = setup("modules_b::sysctl_matches_ansible_playbook") else {
        return;
    };
    let (want, got) = both(&h, &ansible, SYSCTL_PB, &[]);
    same_keys(&want, &got, &["changed", "failed", "msg", "text", "proc"]);
    for i in [0, 3, 5, 6] {
        assert_eq!(got[i]["changed"], true, "result {i}: {:#}", got[i]);
    }
}

const CRON_PB: &str = r##"- hosts: h1
  gather_facts: false
  tasks:
    - file: {path: "{{ item }}", state: absent}
      loop: [/var/spool/cron/crontabs/deploy, /etc/cron.d/slm-test]
    - name: a job
      cron: {name: a, job: "echo a", minute: "5", user: deploy}
      register: r1
    - name: again
      cron: {name: a, job: "echo a", minute: "5", user: deploy}
      register: r2
    - name: another hour
      cron: {name: a, job: "echo a", minute: "5", hour: "2", user: deploy}
      register: r3
    - name: a variable
      cron: {name: PATH, job: /usr/bin:/bin, env: true, user: deploy}
      register: r4
    - name: the variable again
      cron: {name: PATH, job: /usr/bin:/bin, env: true, user: deploy}
      register: r5
    - name: a cron file
      cron: {name: b, job: "echo b", special_time: daily, user: root, cron_file: slm-test}
      register: r6
    - name: the cron file again
      cron: {name: b, job: "echo b", special_time: daily, user: root, cron_file: slm-test}
      register: r7
    - name: check mode
      cron: {name: c, job: "echo c", user: deploy}
      register: r8
      check_mode: true
    - name: disabled
      cron: {name: d, job: "echo d", weekday: "1", disabled: true, user: deploy}
      register: r9
    - name: remove a
      cron: {name: a, state: absent, user: deploy}
      register: r10
    - name: remove the file's only job
      cron: {name: b, state: absent, user: root, cron_file: slm-test}
      register: r11
    - name: cron_file without user
      cron: {name: e, job: "echo e", cron_file: slm-test}
      register: r12
      ignore_errors: true
    - name: special_time with a minute
      cron: {name: e, job: "echo e", special_time: daily, minute: "1", user: deploy}
      register: r13
      ignore_errors: true
    - command: cat /var/spool/cron/crontabs/deploy
      register: c1
    - stat: {path: /etc/cron.d/slm-test}
      register: s1
    - copy:
        dest: "{{ d }}/out.json"
        content: "{{ [r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, {'text': c1.stdout, 'exists': s1.stat.exists}] | to_json }}"
"##;

/// The test hosts have no cron: a stub `crontab` (-l, -u, a file or `-`) keeps crontabs under
/// /var/spool/cron/crontabs, for both engines.
const CRONTAB_STUB: &str = r#"#!/bin/sh
u=$(id -un); op=; f=
while [ $# -gt 0 ]; do
  case "$1" in -u) u=$2; shift 2;; -l) op=l; shift;; *) op=i; f=$1; shift;; esac
done
d=/var/spool/cron/crontabs; mkdir -p "$d"
case "$op" in
  l) [ -f "$d/$u" ] || { echo "no crontab for $u" >&2; exit 1; }; cat "$d/$u";;
  i) if [ "$f" = - ]; then cat > "$d/$u"; else cat "$f" > "$d/$u"; fi;;
esac
"#;

/// cron in a user's crontab (another user's, through `crontab -u`) and in a cron_file: a job
/// added, nothing to do, changed, a variable, special_time, check mode, disabled, removed (the
/// emptied cron_file removed), and the argument errors Ansible reports.
#[test]
fn cron_matches_ansible_playbook() {
    let Some((h, ansible)) = setup("modules_b::cron_matches_ansible_playbook") else {
        return;
    };
    h.sh(
        "h1",
        &format!(
            "mkdir -p /usr/local/bin /etc/cron.d && cat > /usr/local/bin/crontab <<'EOF'\n{CRONTAB_STUB}EOF\nchmod 755 /usr/local/bin/crontab"
        ),
    );
    let (want, got) = both(&h, &ansible, CRON_PB, &[]);
    same_keys(
        &want,
        &got,
        &[
            "changed",
            "failed",
            "msg",
            "jobs",
            "envs",
            "cron_file",
            "text",
            "exists",
        ],
    );
    for i in [0, 2, 3, 5, 7, 8, 9, 10] {
        assert_eq!(got[i]["changed"], true, "result {i}: {:#}", got[i]);
    }
}

const HOSTNAME_PB: &str = r#"- hosts: h1
  gather_facts: false
  tasks:
    - copy: {dest: /etc/hostname, content: "h1\n"}
    - name: rename
      hostname: {name: web01.example.org}
      register: r1
    - name: again
      hostname: {name: web01.example.org}
      register: r2
    - name: check mode
      hostname: {name: other}
      register: r3
      check_mode: true
    - command: cat /etc/hostname
      register: c1
    - copy:
        dest: "{{ d }}/out.json"
        content: "{{ [r1, r2, r3, {'text': c1.stdout, 'short': r1.ansible_facts.ansible_hostname, 'node': r1.ansible_facts.ansible_nodename}] | to_json }}"
"#;

/// hostname on a test host without systemd: Ansible's file strategy (`/etc/hostname` only),
/// renamed, nothing to do, check mode; the facts it returns.
#[test]
fn hostname_matches_ansible_playbook() {
    let Some((h, ansible)) = setup("modules_b::hostname_matches_ansible_playbook") else {
        return;
    };
    let (want, got) = both(&h, &ansible, HOSTNAME_PB, &[]);
    same_keys(
        &want,
        &got,
        &["changed", "failed", "msg", "name", "text", "short", "node"],
    );
    assert_eq!(got[0]["changed"], true, "{got:#}");
}
