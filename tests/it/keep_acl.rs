//! A file the engine rewrites (lineinfile, copy, template, …) keeps its ACL and extended
//! attributes, as Ansible's atomic_move keeps them (shutil.copystat). Runs where setfacl is.

use std::process::Command;

use crate::support::cmd::Sandbox;

fn facl(args: &[&str]) -> Option<String> {
    let out = Command::new(args[0]).args(&args[1..]).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn rewritten_files_keep_their_acl() {
    let sb = Sandbox::new();
    let f = sb.write("acl.txt", "TEST\n");
    let path = f.display().to_string();
    if facl(&["setfacl", "-m", "nobody:rwx", &path]).is_none() {
        eprintln!("NOTE: setfacl is not installed (or the file system has no ACLs); not run");
        return;
    }
    let r = sb.run(
        "- hosts: all\n  gather_facts: no\n  tasks:\n\
         \x20   - lineinfile: {path: '@D@/acl.txt', regexp: TEST, line: UPDATE}\n\
         \x20   - copy: {dest: '@D@/acl.txt', content: \"NEW\\n\"}\n",
        &["--engine", "native"],
    );
    r.assert_ok();
    assert_eq!(r.changed("local1"), 2, "{}", r.dump());
    assert_eq!(sb.read("acl.txt"), "NEW\n");
    let acl = facl(&["getfacl", "--omit-header", &path]).unwrap_or_default();
    assert!(acl.contains("user:nobody:rwx"), "{acl}");
    assert!(acl.contains("user::rw-"), "{acl}");
}
