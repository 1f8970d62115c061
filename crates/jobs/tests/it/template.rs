//! Templates: substitution, errors, and values that try to be shell syntax.

use std::process::Command;

use autoresearch_jobs::{JobsError, Vars, expand};

fn vars() -> Vars {
    Vars::new()
        .with("IMAGE", "registry/img:1")
        .with("RUN_ID", "007_batch")
}

#[test]
fn variables_are_substituted_as_quoted_words() {
    let out = expand(
        "docker run $IMAGE --tag ${RUN_ID}-x \"$RUN_ID ok\"",
        &vars(),
    )
    .unwrap();
    assert_eq!(
        out,
        "docker run 'registry/img:1' --tag '007_batch'-x \"007_batch ok\""
    );
}

#[test]
fn single_quotes_and_shell_specials_are_left_to_the_shell() {
    let out = expand("echo '$IMAGE' $$ $1 $? \\$RUN_ID $", &vars()).unwrap();
    assert_eq!(out, "echo '$IMAGE' $$ $1 $? \\$RUN_ID $");
}

#[test]
fn an_unknown_variable_is_an_error_naming_it_and_the_known_ones() {
    let err = expand("run $IMAGE $NOPE", &vars()).unwrap_err();
    assert!(
        matches!(err, JobsError::UnknownVariable { ref name, .. } if name == "NOPE"),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("$NOPE") && message.contains("$IMAGE, $RUN_ID"),
        "{message}"
    );
    assert!(matches!(
        expand("echo ${IMAGE", &vars()),
        Err(JobsError::BadTemplate { .. })
    ));
    assert!(matches!(
        expand("echo 'open", &vars()),
        Err(JobsError::BadTemplate { .. })
    ));
}

#[test]
fn hostile_values_arrive_as_literal_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = [
        "; rm -rf ~",
        "$(touch pwned)",
        "`touch pwned2`",
        "a'b\"c\\d $HOME",
        "x\ny",
        "' ; touch pwned3 ; '",
    ];
    for value in hostile {
        let vars = Vars::new().with("VALUE", value);
        // Bare, in double quotes, braced, and through a nested shell that reads the env.
        let script = expand(
            "printf '%s|' $VALUE; printf '%s|' \"$VALUE\" \"${VALUE}\"; sh -c 'printf \"%s|\" \"$VALUE\"'",
            &vars,
        )
        .unwrap();
        let output = Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .current_dir(dir.path())
            .envs(vars.to_env())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{value:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let printed = String::from_utf8(output.stdout).unwrap();
        assert_eq!(
            printed,
            format!("{value}|{value}|{value}|{value}|"),
            "for {value:?}"
        );
    }
    let created: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(created.is_empty(), "a value ran as a command: {created:?}");
}

#[test]
fn variables_inside_command_substitutions_are_refused() {
    let vars = Vars::new().with("X", "a; touch /tmp/pwned");
    for template in [
        "echo \"$(basename $X)\"",
        "echo $(basename \"$X\")",
        "echo `echo $X`",
        "echo \"`echo ${X}`\"",
    ] {
        let err = expand(template, &vars).unwrap_err();
        assert!(
            matches!(err, JobsError::BadTemplate { .. }),
            "{template}: {err}"
        );
        assert!(err.to_string().contains("$X"), "{err}");
    }
    // Substitutions without our variables, and single-quoted ones, are the shell's.
    assert_eq!(
        expand("echo $(date) '$(x $X)' $X", &vars).unwrap(),
        "echo $(date) '$(x $X)' 'a; touch /tmp/pwned'"
    );
}
