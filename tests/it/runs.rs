//! `slm-wizard runs` lists the journaled runs; `runs show ID` replays one as `run` printed it.

use crate::support::cmd::Sandbox;

const OK: &str = "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Say\n      ansible.builtin.command: echo hello\n";
const FAILS: &str = "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Breaks\n      ansible.builtin.command: 'false'\n";

#[test]
fn runs_lists_journaled_runs_and_show_replays_them() {
    let sb = Sandbox::new();
    sb.run(OK, &[]).assert_ok();
    sb.run(FAILS, &[]).assert_code(2);

    let listed = sb.run_raw(&["runs"]);
    listed.assert_ok();
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", listed.dump());
    assert!(lines[0].starts_with("ID ") && lines[0].contains("RESULT"));
    // Newest first: the failed run, then the good one.
    for (line, pb, result) in [
        (lines[1], "pb-1.yml", "failed"),
        (lines[2], "pb-0.yml", "ok"),
    ] {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            (cols[3], cols[4], cols[5]),
            ("native", result, sb.p(pb).to_str().unwrap()),
            "{}",
            listed.dump()
        );
    }
    let json = sb.run_raw(&["runs", "--json", "-n", "1"]);
    assert_eq!(json.events.len(), 1, "{}", json.dump());
    assert_eq!(json.events[0]["result"], "failed");
    let failed_id = json.events[0]["id"].as_str().unwrap().to_string();
    let ok_id = lines[2].split_whitespace().next().unwrap();

    // The replay prints what `run` printed: tasks, results, the recap; the exit code is the run's.
    let shown = sb.run_raw(&["runs", "show", ok_id]);
    shown.assert_ok();
    assert!(
        shown.stdout.contains("TASK [Say]")
            && shown.stdout.contains("changed: [local1]")
            && shown.stdout.contains("PLAY RECAP")
            && shown
                .stdout
                .contains("local1                     : ok=1    changed=1"),
        "{}",
        shown.dump()
    );
    let shown = sb.run_raw(&["runs", "show", "last"]);
    shown.assert_code(2);
    assert!(shown.stdout.contains("failed=1"), "{}", shown.dump());

    // --json gives the journal's events, as `run --json` printed them.
    let shown = sb.run_raw(&["runs", "show", &failed_id, "--json"]);
    shown.assert_code(2);
    let original = sb
        .journal_files()
        .into_iter()
        .find(|p| p.file_stem().and_then(|s| s.to_str()) == Some(failed_id.as_str()));
    let original = std::fs::read_to_string(original.expect("the journal")).unwrap();
    assert_eq!(shown.stdout, original);
    assert_eq!(shown.events[1]["event"], "engine");

    // An unknown id is bad input that says how to find one.
    let unknown = sb.run_raw(&["runs", "show", "nope"]);
    unknown.assert_code(5);
    assert!(
        unknown.stderr.contains("slm-wizard runs"),
        "{}",
        unknown.dump()
    );
}
