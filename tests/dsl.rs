//! The device-graph DSL, evaluated through its public API exactly as
//! `configure` does, against manifests written to a scratch directory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mirage_build::prelude::*;

/// The build script of examples/hello, whose `hello()` is the graph the
/// golden files pin.
#[path = "../examples/hello/build.rs"]
#[allow(dead_code)]
mod hello_graph;

const APP_MANIFEST: &str = r#"
[package]
name = "app"
version = "0.1.0"

[dependencies]
mirage = { path = "../mirage" }

[features]
default = ["target-unix"]
target-unix = ["mirage/target-unix"]
"#;

/// A scratch application directory with `manifest` as its Cargo.toml.
fn app_dir(manifest: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mirage-dsl-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    dir
}

fn env_with(manifest: &str, vars: &[(&str, &str)]) -> BuildEnv {
    let dir = app_dir(manifest);
    let mut map: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    map.entry("CARGO_FEATURE_TARGET_UNIX".into())
        .or_insert_with(|| "1".into());
    map.entry("CARGO_FEATURE_DEFAULT".into())
        .or_insert_with(|| "1".into());
    BuildEnv {
        vars: map,
        out_dir: dir.clone(),
        manifest_dir: dir,
    }
}

fn eval(app: &Application, vars: &[(&str, &str)]) -> Result<Outputs, ConfigureError> {
    evaluate_application(app, &env_with(APP_MANIFEST, vars))
}

/// A leaf device of the test catalogue.
fn leaf(name: &str) -> Impl<Time> {
    let ty = format!("test::{name}");
    Device::new(name, name, time())
        .identity(name)
        .rust_type(move |_| ty.clone())
        .connect({
            let name = name.to_string();
            move |_| Connect::expr(format!("test::{name}::new()"))
        })
        .build()
}

/// A device of type time that uses `deps`.
fn user(name: &str, deps: &[&Impl<Time>]) -> Impl<Time> {
    let deps: Vec<Impl<Time>> = deps.iter().map(|d| (*d).clone()).collect();
    let mut device = Device::new(name, name, time()).rust_type({
        let name = name.to_string();
        move |_| format!("test::{name}")
    });
    for d in &deps {
        device = device.dep(d);
    }
    let name = name.to_string();
    device
        .connect(move |cx| {
            let args: Vec<String> = deps.iter().map(|d| cx.var(d)).collect();
            Connect::expr(format!("test::{name}::connect({})", args.join(", "))).awaited()
        })
        .build()
}

fn job_of(path: &str, device: &Impl<Time>) -> Impl<Job> {
    mirage_build::main(path, time() >> job()).apply(device)
}

fn bindings(main_rs: &str) -> Vec<String> {
    main_rs
        .lines()
        .filter_map(|l| l.trim().strip_prefix("let "))
        .filter_map(|l| l.split(':').next())
        .filter(|v| !v.starts_with("arg_") && !v.starts_with('_'))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_device_used_twice_is_connected_once() {
    // Two calls of the same catalogue constructor, and one device used by
    // two devices and two jobs.
    let shared = leaf("clock");
    let a = user("a", &[&leaf("clock"), &shared]);
    let b = user("b", &[&shared]);
    let app =
        register("twice", [job_of("app::one", &a), job_of("app::two", &b)]).reporter(no_reporter());
    let out = eval(&app, &[]).unwrap();
    let names = bindings(&out.main_rs);
    // Jobs take positions too: `one_4` is the first job.
    assert_eq!(
        names,
        ["reporter_1", "clock_2", "a_3", "b_5"],
        "{}",
        out.main_rs
    );
    assert_eq!(out.main_rs.matches("test::clock::new()").count(), 1);
    assert!(
        out.main_rs
            .contains("test::a::connect(clock_2, clock_2).await")
    );
    assert!(out.main_rs.contains("test::b::connect(clock_2).await"));
    assert!(out.main_rs.contains("app::one(a_3).await"));
    assert!(out.main_rs.contains("app::two(b_5).await"));
}

#[test]
fn connects_run_in_dependency_order() {
    let c = leaf("c");
    let b = user("b", &[&c]);
    let a = user("a", &[&b, &c]);
    let app = register("order", [job_of("app::run", &a)]).reporter(no_reporter());
    let out = eval(&app, &[]).unwrap();
    assert_eq!(bindings(&out.main_rs), ["reporter_1", "c_2", "b_3", "a_4"]);
    // The text description lists the same order, with the edges.
    let text = &out.text;
    let pos = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s} in {text}"));
    assert!(pos("2. c_2") < pos("3. b_3") && pos("3. b_3") < pos("4. a_4"));
    assert!(text.contains("uses: b_3, c_2"), "{text}");
    assert!(out.dot.contains("\"a_4\" -> \"b_3\";"), "{}", out.dot);
    assert!(
        out.dot.contains("\"run_5\" -> \"a_4\" [style=bold];"),
        "{}",
        out.dot
    );
}

#[test]
fn names_are_stable_and_readable() {
    let app = || {
        let c = leaf("block-storage");
        register("names", [job_of("app::run", &user("fs", &[&c]))])
    };
    let first = eval(&app(), &[]).unwrap();
    let second = eval(&app(), &[]).unwrap();
    assert_eq!(first.main_rs, second.main_rs);
    assert_eq!(
        bindings(&first.main_rs),
        ["pclock_1", "reporter_2", "block_storage_3", "fs_4"]
    );
}

fn choice_app(chooser: impl Fn(&Impl<Time>, &Impl<Time>) -> Impl<Time>) -> Application {
    let fast = Device::new("fast", "fast_impl", time())
        .package(package("fast-crate"))
        .rust_type(|_| "fast::Dev".into())
        .connect(|_| Connect::expr("fast::Dev"))
        .build();
    let slow = Device::new("slow", "slow_impl", time())
        .package(package("slow-crate"))
        .rust_type(|_| "slow::Dev".into())
        .connect(|_| Connect::expr("slow::Dev"))
        .build();
    register("choice", [job_of("app::run", &chooser(&fast, &slow))]).reporter(no_reporter())
}

const FAST_MANIFEST: &str = r#"
[package]
name = "app"
version = "0.1.0"
[dependencies]
mirage = { path = "../mirage" }
fast-crate = "1"
[features]
target-unix = ["mirage/target-unix"]
"#;

#[test]
fn if_impl_chooses_by_key_and_only_the_chosen_packages_count() {
    let app = choice_app(|fast, slow| {
        if_impl(
            key("fast", true).doc("Use the fast device.").value(),
            fast,
            slow,
        )
    });
    let out = evaluate_application(&app, &env_with(FAST_MANIFEST, &[])).unwrap();
    assert!(out.main_rs.contains("fast::Dev") && !out.main_rs.contains("slow::Dev"));
    // The description documents the key: variable, default and doc.
    assert!(
        out.text
            .contains("  fast = true (MIRAGE_FAST, default true): Use the fast device.\n"),
        "{}",
        out.text
    );
    assert!(
        out.cargo_lines
            .contains(&"cargo:rerun-if-env-changed=MIRAGE_FAST".to_string())
    );
    assert!(out.text.contains("fast = true"), "{}", out.text);
    // Choosing the other side requires its package, which is missing.
    let err = evaluate_application(&app, &env_with(FAST_MANIFEST, &[("MIRAGE_FAST", "false")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the crate `slow-crate` is missing (needed by slow_impl)"),
        "{err}"
    );
    assert!(err.contains("slow-crate = { version = \"*\" }"), "{err}");
    assert!(!err.contains("fast-crate"), "{err}");
}

#[test]
fn match_impl_chooses_the_first_equal_case_or_the_default() {
    let app = |manifest: &str, value: Option<&str>| {
        let app = choice_app(|fast, slow| {
            match_impl(
                key("speed", "normal".to_string()).value(),
                [
                    ("fast".to_string(), fast.clone()),
                    ("slow".to_string(), slow.clone()),
                ],
                fast,
            )
        });
        let vars: Vec<(&str, &str)> = value.map(|v| ("MIRAGE_SPEED", v)).into_iter().collect();
        evaluate_application(&app, &env_with(manifest, &vars))
    };
    let both = FAST_MANIFEST.replace(
        "fast-crate = \"1\"",
        "fast-crate = \"1\"\nslow-crate = \"1\"",
    );
    assert!(app(&both, None).unwrap().main_rs.contains("fast::Dev"));
    assert!(
        app(&both, Some("fast"))
            .unwrap()
            .main_rs
            .contains("fast::Dev")
    );
    assert!(
        app(&both, Some("slow"))
            .unwrap()
            .main_rs
            .contains("slow::Dev")
    );
    assert!(
        app(&both, Some("other"))
            .unwrap()
            .main_rs
            .contains("fast::Dev")
    );
    assert!(app(FAST_MANIFEST, Some("slow")).is_err());
}

#[test]
fn target_and_key_values_are_readable_in_code() {
    let dev = Device::new("t", "by_target", time())
        .rust_type(|cx| format!("t::{}", cx.info().target()))
        .connect(|cx| Connect::expr(format!("t::new({:?})", cx.info().name())))
        .build();
    let picked = match_impl(target(), [(Target::Hvt, leaf("hvt_only"))], &dev);
    let app = register("tgt", [job_of("app::run", &picked)]).reporter(no_reporter());
    let out = eval(&app, &[]).unwrap();
    assert!(
        out.main_rs
            .contains("let t_2: &'static t::unix = mirage::rt::leak(t::new(\"tgt\"));"),
        "{}",
        out.main_rs
    );
}

#[test]
fn malformed_keys_are_errors_naming_the_variable() {
    let app = choice_app(|fast, slow| if_impl(key("fast", true).value(), fast, slow));
    let err = evaluate_application(
        &app,
        &env_with(FAST_MANIFEST, &[("MIRAGE_FAST", "perhaps")]),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "configure-time key `fast`: MIRAGE_FAST=perhaps is not true or false"
    );
}

#[test]
fn two_runtime_arguments_with_one_name_are_an_error() {
    let a = runtime_arg::<u16>("port").default(80);
    let b = runtime_arg::<u16>("port").default(8080);
    let main = mirage_build::main("app::run", job())
        .runtime_arg(&a)
        .runtime_arg(&b)
        .build();
    let err = eval(&register("dup", [main]), &[]).unwrap_err().to_string();
    assert!(
        err.starts_with("two runtime arguments are named --port: one declared at tests/dsl.rs:"),
        "{err}"
    );
    // The same argument used by two devices is one argument.
    let main1 = mirage_build::main("app::one", job())
        .runtime_arg(&a)
        .build();
    let main2 = mirage_build::main("app::two", job())
        .runtime_arg(&a)
        .build();
    let out = eval(&register("shared", [main1, main2]), &[]).unwrap();
    assert_eq!(out.main_rs.matches("name: \"port\"").count(), 1);
    assert!(
        out.main_rs.contains("app::one(arg_port).await")
            && out.main_rs.contains("app::two(arg_port).await")
    );
}

#[test]
fn runtime_arguments_without_default_are_rejected_unless_required_or_optional() {
    let bare = runtime_arg::<u16>("port");
    let main = mirage_build::main("app::run", job())
        .runtime_arg(&bare)
        .build();
    let err = eval(&register("bare", [main]), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("runtime argument --port (declared at tests/dsl.rs:"),
        "{err}"
    );
    assert!(err.contains("it has no default"), "{err}");
    let required = runtime_arg::<u16>("port").required();
    let optional = runtime_arg::<Option<core::net::Ipv4Addr>>("gateway");
    let main = mirage_build::main("app::run", job())
        .runtime_arg(&required)
        .runtime_arg(&optional)
        .build();
    let out = eval(&register("ok", [main]), &[]).unwrap();
    assert!(
        out.main_rs
            .contains("let arg_gateway: Option<core::net::Ipv4Addr>"),
        "{}",
        out.main_rs
    );
    assert!(out.main_rs.contains("required: true"));
}

#[test]
fn connect_code_naming_an_undeclared_device_is_an_error() {
    let other = leaf("other");
    let sneaky = Device::new("sneaky", "sneaky_device", time())
        .rust_type(|_| "s::S".into())
        .connect(move |cx| Connect::expr(format!("s::S::new({})", cx.var(&other))))
        .build();
    let err = eval(&register("bad", [job_of("app::run", &sneaky)]), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("device `sneaky_device` (tests/dsl.rs:"),
        "{err}"
    );
    assert!(err.contains("uses `other`"), "{err}");
    assert!(err.contains("does not declare as a dependency"), "{err}");
}

#[test]
fn the_target_must_be_forwarded_to_mirage() {
    let manifest =
        APP_MANIFEST.replace("target-unix = [\"mirage/target-unix\"]", "target-unix = []");
    let app = hello_graph::hello();
    let err = evaluate_application(&app, &env_with(&manifest, &[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("the crate `mirage` needs its feature `target-unix` (needed by the unix target, default_posix_clock"), "{err}");
    assert!(
        err.contains("target-unix = [\"mirage/target-unix\"]"),
        "{err}"
    );
    let manifest = APP_MANIFEST.replace("mirage = { path = \"../mirage\" }", "");
    let err = evaluate_application(&app, &env_with(&manifest, &[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("the crate `mirage` is missing"), "{err}");
}

#[test]
fn exactly_one_target_feature_is_required() {
    let app = hello_graph::hello();
    let mut env = env_with(APP_MANIFEST, &[]);
    env.vars.remove("CARGO_FEATURE_TARGET_UNIX");
    let err = evaluate_application(&app, &env).unwrap_err().to_string();
    assert!(err.starts_with("no target chosen"), "{err}");
    env.vars
        .insert("CARGO_FEATURE_TARGET_UNIX".into(), "1".into());
    env.vars
        .insert("CARGO_FEATURE_TARGET_SPT".into(), "1".into());
    let err = evaluate_application(&app, &env).unwrap_err().to_string();
    assert!(
        err.contains("several targets chosen (target-unix, target-spt)"),
        "{err}"
    );
}

#[test]
fn noop_and_dep_and_argv() {
    let early = leaf("early");
    let late = Device::new("late", "late_device", time())
        .extra_deps([dep(&early)])
        .rust_type(|_| "l::L".into())
        .connect(|_| Connect::expr("l::L"))
        .build();
    let app = register("misc", [noop(), job_of("app::run", &late)])
        .reporter(no_reporter())
        .argv(no_argv());
    let out = eval(&app, &[]).unwrap();
    assert_eq!(bindings(&out.main_rs), ["reporter_1", "early_3", "late_4"]);
    assert!(out.text.contains("after: early_3"), "{}", out.text);
    assert!(
        out.main_rs
            .contains("mirage::rt::job(\"noop\", async move { async {}.await })"),
        "{}",
        out.main_rs
    );
    assert!(out.main_rs.contains("mirage::platform::Argv::None"));
}

#[test]
fn generated_hello_matches_the_golden_file() {
    let out = eval(&hello_graph::hello(), &[]).unwrap();
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/hello_main.rs");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &out.main_rs).unwrap();
        std::fs::write(golden.with_file_name("hello.txt"), &out.text).unwrap();
        std::fs::write(golden.with_file_name("hello.dot"), &out.dot).unwrap();
    }
    let read = |name: &str| std::fs::read_to_string(golden.with_file_name(name)).unwrap();
    assert_eq!(
        out.main_rs,
        read("hello_main.rs"),
        "rerun with UPDATE_GOLDEN=1 if the change is intended"
    );
    assert_eq!(out.text, read("hello.txt"));
    assert_eq!(out.dot, read("hello.dot"));
    // The generated code is formatted: rustfmt leaves it as it is.
    let check = std::process::Command::new("rustfmt")
        .args(["--edition", "2024", "--check"])
        .arg(&golden)
        .status()
        .expect("rustfmt runs");
    assert!(check.success(), "generated code is not rustfmt-clean");
    let _ = Rc::new(());
}

fn block_job(device: &Impl<Block>) -> Impl<Job> {
    mirage_build::main("app::run", block() >> job()).apply(device)
}

#[test]
fn ccm_block_wraps_its_device_and_reads_the_key_argument() {
    let key =
        runtime_arg::<Option<String>>("aes-ccm-key").doc("The key of the block device (hex).");
    let encrypted = ccm_block(None, &key, &block_of_file("edb"));
    let out = eval(
        &register("ccm", [block_job(&encrypted)]).reporter(no_reporter()),
        &[],
    )
    .unwrap();
    // Compared without whitespace: rustfmt wraps long lines.
    let main: String = out.main_rs.chars().filter(|c| !c.is_whitespace()).collect();
    let main = main.replace(",>", ">");
    assert!(
        main.contains("letarg_aes_ccm_key:Option<mirage::export::String>"),
        "{main}"
    );
    assert!(
        main.contains(
            "mirage::block::ccm::CcmBlock<mirage::platform::BlockFile,mirage::random::Rng>"
        ),
        "{main}"
    );
    assert!(main.contains("arg_aes_ccm_key.as_deref(),8)"), "{main}");
    assert!(
        main.contains("mirage::platform::BlockFile::connect(\"edb\")"),
        "{main}"
    );
    assert!(
        main.contains("mirage::platform::default_random()"),
        "{main}"
    );
}

#[test]
fn generic_block_follows_its_key_and_xenstore_needs_xen() {
    let app = |b: Impl<Block>| register("gb", [block_job(&b)]).reporter(no_reporter());
    // A ramdisk unless the key says otherwise, as in MirageOS.
    let out = eval(&app(generic_block(None, None, "disk")), &[]).unwrap();
    assert!(
        out.main_rs.contains("Ramdisk::connect(\"disk\")"),
        "{}",
        out.main_rs
    );
    let out = eval(
        &app(generic_block(None, None, "disk")),
        &[("MIRAGE_BLOCK", "file")],
    )
    .unwrap();
    assert!(out.main_rs.contains("BlockFile::connect(\"disk\")"));
    // A group reads its own key; a key given by the application wins.
    let out = eval(
        &app(generic_block(Some("db"), None, "disk")),
        &[("MIRAGE_DB_BLOCK", "file"), ("MIRAGE_BLOCK", "ramdisk")],
    )
    .unwrap();
    assert!(out.main_rs.contains("BlockFile::connect(\"disk\")"));
    let given = generic_block(None, Some(Value::pure(BlockKind::BlockFile)), "disk");
    let out = eval(&app(given), &[("MIRAGE_BLOCK", "ramdisk")]).unwrap();
    assert!(out.main_rs.contains("BlockFile::connect(\"disk\")"));
    let err = eval(
        &app(generic_block(None, None, "disk")),
        &[("MIRAGE_BLOCK", "xenstore")],
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("device `block_of_xenstore_id`"), "{err}");
    assert!(err.contains("needs a Xen target"), "{err}");
    let err = eval(
        &app(generic_block(None, None, "disk")),
        &[("MIRAGE_BLOCK", "floppy")],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("xenstore, file or ramdisk"), "{err}");
}

#[test]
fn default_network_is_tap0_on_unix_and_service_on_solo5() {
    let app = || {
        let main = mirage_build::main("app::run", network() >> job());
        register("net", [main.apply(&default_network())]).reporter(no_reporter())
    };
    let out = eval(&app(), &[]).unwrap();
    assert!(
        out.main_rs
            .contains("mirage::platform::Netif::connect_with_offload(&arg_interface, arg_offload)"),
        "{}",
        out.main_rs
    );
    assert!(
        out.main_rs.contains("name: \"interface\"")
            && out.main_rs.contains("default: Some(\"tap0\")")
    );
    // The tap's segmentation offload is asked for with `--offload`.
    assert!(out.main_rs.contains("name: \"offload\""), "{}", out.main_rs);

    let spt_manifest = APP_MANIFEST.replace(
        "target-unix = [\"mirage/target-unix\"]",
        "target-spt = [\"mirage/target-spt\"]",
    );
    let mut env = env_with(&spt_manifest, &[("CARGO_FEATURE_TARGET_SPT", "1")]);
    env.vars.remove("CARGO_FEATURE_TARGET_UNIX");
    // Without panic = "abort" in the profile, configure says what to add.
    let err = evaluate_application(&app(), &env).unwrap_err().to_string();
    assert!(
        err.contains("[profile.dev]\n    panic = \"abort\""),
        "{err}"
    );
    std::fs::write(
        env.manifest_dir.join("Cargo.toml"),
        format!("{spt_manifest}\n[profile.dev]\npanic = \"abort\"\n"),
    )
    .unwrap();
    let out = evaluate_application(&app(), &env).unwrap();
    assert!(
        out.main_rs
            .contains("mirage::platform::Netif::connect(\"service\")"),
        "{}",
        out.main_rs
    );
    assert!(
        !out.main_rs.contains("arg_interface"),
        "no --interface on Solo5"
    );
    assert!(out.main_rs.contains(
        "/// The Solo5 manifest of `net`: the devices the tender must attach (service (NET_BASIC))."
    ));
    assert!(out.main_rs.contains("extern \"C\" fn solo5_app_main"));
    assert!(
        out.cargo_lines
            .iter()
            .any(|l| l.starts_with("cargo:rustc-link-arg-bins=-Wl,-T,"))
    );
}

fn stack_app(stack: &Impl<Stackv4v6>) -> Application {
    let main = mirage_build::main("app::run", stackv4v6() >> job());
    register("net", [main.apply(stack)]).reporter(no_reporter())
}

fn squeezed(main_rs: &str) -> String {
    main_rs
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .replace(",>", ">")
        .replace(",)", ")")
}

#[test]
fn generic_stack_follows_the_net_and_dhcp_keys() {
    let app = || stack_app(&generic_stackv4v6(None, None, None, &default_network()));
    // Unset on unix: the host's sockets.
    let out = eval(&app(), &[]).unwrap();
    assert!(
        out.main_rs
            .contains("mirage::platform::SocketStack::connect("),
        "{}",
        out.main_rs
    );
    assert!(
        !out.main_rs.contains("Netif::connect"),
        "no tap for the socket stack"
    );
    // Direct: the layers in dependency order, the --ipv4 arguments.
    let out = eval(&app(), &[("MIRAGE_NET", "direct")]).unwrap();
    let main = squeezed(&out.main_rs);
    let order: Vec<usize> = [
        "Netif::connect_with_offload(",
        "Ethif::connect(",
        "Arp::connect(",
        "Ipv4::connect(",
        "Ipv6::connect(",
        "DirectStack::connect(",
    ]
    .iter()
    .map(|needle| {
        main.find(needle)
            .unwrap_or_else(|| panic!("{needle} in {main}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    for arg in [
        "name:\"ipv4\"",
        "default:Some(\"10.0.0.2/24\")",
        "name:\"ipv4-gateway\"",
        "name:\"ipv6\"",
        "name:\"ipv6-gateway\"",
        "name:\"accept-router-advertisements\"",
        "name:\"ipv4-only\"",
        "name:\"ipv6-only\"",
    ] {
        assert!(main.contains(arg), "{arg} in {main}");
    }
    assert!(main.contains(
        "mirage::net::stack::DirectStack<mirage::platform::Netif,mirage::platform::Mclock>"
    ));
    // The stack is built once though every layer is shared.
    assert_eq!(main.matches("Ethif::connect(").count(), 1);
    // DHCP: the lease replaces --ipv4.
    let out = eval(&app(), &[("MIRAGE_NET", "direct"), ("MIRAGE_DHCP", "true")]).unwrap();
    let main = squeezed(&out.main_rs);
    assert!(main.contains("Ipv4::connect_leased("), "{main}");
    assert!(!main.contains("name:\"ipv4\""), "{main}");
    // A bad value names the variable.
    let err = eval(&app(), &[("MIRAGE_NET", "ocaml")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("MIRAGE_NET") && err.contains("socket or direct"),
        "{err}"
    );
}

#[test]
fn the_socket_stack_needs_unix() {
    let mut env = spt_env();
    // Unset on Solo5: the direct stack over `service`.
    let app = || stack_app(&generic_stackv4v6(None, None, None, &default_network()));
    let out = evaluate_application(&app(), &env).unwrap();
    assert!(out.main_rs.contains("DirectStack::connect("));
    assert!(out.main_rs.contains("service (NET_BASIC)"));
    env.vars.insert("MIRAGE_NET".into(), "socket".into());
    let err = evaluate_application(&app(), &env).unwrap_err().to_string();
    assert!(err.contains("only available on unix"), "{err}");
}

#[test]
fn layers_compose_by_hand_and_configs_set_the_defaults() {
    let net = netif("tap3");
    let eth = etif(&net);
    let arp = arp(&eth);
    let config = Ipv4Config {
        network: "192.168.7.9/16".parse().unwrap(),
        gateway: Some("192.168.0.1".parse().unwrap()),
    };
    let v4 = create_ipv4(Some("inside"), Some(config), &eth, &arp);
    let v6 = create_ipv6(Some("inside"), None, &net, &eth);
    let ip = create_ipv4v6(&v4, &v6);
    let udp_layer = direct_udp(&ip);
    let main = mirage_build::main("app::run", udp() >> job());
    let out = eval(
        &register("udp", [main.apply(&udp_layer)]).reporter(no_reporter()),
        &[],
    )
    .unwrap();
    let main = squeezed(&out.main_rs);
    assert!(main.contains("name:\"inside-ipv4\""), "{main}");
    assert!(main.contains("default:Some(\"192.168.7.9/16\")"), "{main}");
    assert!(main.contains("default:Some(\"192.168.0.1\")"), "{main}");
    assert!(
        main.contains("mirage::net::udp::DirectUdp<mirage::net::ipv4v6::Ipv4v6<"),
        "{main}"
    );
    assert!(main.contains("Ipv4v6::connect("), "{main}");
}
/// The build environment of an spt build (the target forwarded to mirage,
/// `panic = "abort"` in the profile).
fn spt_env() -> BuildEnv {
    let manifest = APP_MANIFEST.replace(
        "target-unix = [\"mirage/target-unix\"]",
        "target-spt = [\"mirage/target-spt\"]",
    ) + "\n[profile.dev]\npanic = \"abort\"\n";
    let mut env = env_with(&manifest, &[("CARGO_FEATURE_TARGET_SPT", "1")]);
    env.vars.remove("CARGO_FEATURE_TARGET_UNIX");
    env
}

/// The manifest note the generated code embeds, as (name, kind) pairs
/// after the reserved entry.
fn embedded_manifest(main_rs: &str) -> Vec<(String, solo5_abi::manifest::DeviceKind)> {
    let start = main_rs
        .find("mirage::platform::Note([")
        .expect("a manifest note")
        + "mirage::platform::Note([".len();
    let end = start + main_rs[start..].find("]);").unwrap();
    let bytes: Vec<u8> = main_rs[start..end]
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| u8::from_str_radix(t.trim_start_matches("0x"), 16).unwrap())
        .collect();
    let desc = solo5_abi::note::read_solo5_note(
        &bytes,
        solo5_abi::note::MFT1_NOTE_TYPE,
        solo5_abi::note::MFT1_NOTE_ALIGN,
        solo5_abi::note::MFT1_NOTE_MAX_SIZE,
    )
    .unwrap()
    .expect("a Solo5 manifest note");
    let manifest = solo5_abi::manifest::Manifest::validate(desc).unwrap();
    manifest
        .iter()
        .skip(1)
        .map(|e| (e.name().to_string(), e.kind().unwrap()))
        .collect()
}

#[test]
fn the_solo5_manifest_lists_each_device_once_in_connect_order() {
    use solo5_abi::manifest::DeviceKind::{Block as B, Net as N};
    let app = || {
        let main = mirage_build::main(
            "app::run",
            block() >> network() >> block() >> block() >> job(),
        );
        let job = main
            .build()
            .apply(&block_of_file("disk2"))
            .apply(&default_network())
            .apply(&block_of_file("disk1"))
            .apply(&block_of_file("disk2"));
        register("mft", [job]).reporter(no_reporter())
    };
    let out = evaluate_application(&app(), &spt_env()).unwrap();
    let expected = vec![
        ("disk2".to_string(), B),
        ("service".to_string(), N),
        ("disk1".to_string(), B),
    ];
    assert_eq!(embedded_manifest(&out.main_rs), expected);
    assert!(out.main_rs.contains(
        "the devices the tender must attach (disk2 (BLOCK_BASIC), service (NET_BASIC), disk1 (BLOCK_BASIC))"
    ));
    // The same graph gives the same bytes every time.
    let again = evaluate_application(&app(), &spt_env()).unwrap();
    assert_eq!(again.main_rs, out.main_rs);
    // A unix build has no manifest.
    let unix = evaluate_application(&app(), &env_with(APP_MANIFEST, &[])).unwrap();
    assert!(!unix.main_rs.contains(".note.solo5.manifest"));
}

#[test]
fn solo5_device_names_are_checked() {
    let one = |dev: Impl<Block>| {
        let app = register("bad", [block_job(&dev)]).reporter(no_reporter());
        evaluate_application(&app, &spt_env())
            .unwrap_err()
            .to_string()
    };
    let err = one(block_of_file("my-disk"));
    assert!(
        err.starts_with("device `block_of_file` (tests/dsl.rs:"),
        "{err}"
    );
    assert!(
        err.contains("the Solo5 device name `my-disk` must be 1 to 67 letters and digits"),
        "{err}"
    );
    assert!(one(block_of_file(&"d".repeat(68))).contains("must be 1 to 67 letters"));
    // One name for a net and a block device.
    let main = mirage_build::main("app::run", network() >> block() >> job());
    let app = register(
        "clash",
        [main.apply(&netif("disk")).apply(&block_of_file("disk"))],
    )
    .reporter(no_reporter());
    let err = evaluate_application(&app, &spt_env())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the Solo5 device name `disk` is used for a net and a block device"),
        "{err}"
    );
}

#[test]
fn tcp_devices_come_from_stacks_sockets_or_an_ip_layer() {
    // The TCP of a stack, whichever it is.
    let stack = generic_stackv4v6(None, None, None, &default_network());
    let app = || {
        let main = mirage_build::main("app::run", tcp() >> job());
        register("tcp", [main.apply(&tcpv4v6_of_stackv4v6(&stack))]).reporter(no_reporter())
    };
    let main = squeezed(&eval(&app(), &[("MIRAGE_NET", "direct")]).unwrap().main_rs);
    assert!(
        main.contains("<mirage::net::stack::DirectStack<mirage::platform::Netif,mirage::platform::Mclock>asmirage::net::stack::Stackv4v6>::Tcp"),
        "{main}"
    );
    assert!(
        main.contains("mirage::net::stack::Stackv4v6::tcp(stack_"),
        "{main}"
    );
    let main = squeezed(&eval(&app(), &[]).unwrap().main_rs);
    assert!(
        main.contains("<mirage::platform::SocketStackasmirage::net::stack::Stackv4v6>::Tcp"),
        "{main}"
    );
    // Host sockets directly, unix only.
    let sockets = socket_tcpv4v6(Some("127.0.0.1".parse().unwrap()), None);
    let main = mirage_build::main("app::run", tcp() >> job());
    let out = eval(
        &register("t", [main.apply(&sockets)]).reporter(no_reporter()),
        &[],
    )
    .unwrap();
    assert!(
        squeezed(&out.main_rs)
            .contains("SocketTcp::connect(Some(core::net::Ipv4Addr::from([127,0,0,1])),None)"),
        "{}",
        out.main_rs
    );
    let main = mirage_build::main("app::run", tcp() >> job());
    let err = evaluate_application(
        &register("t", [main.apply(&sockets)]).reporter(no_reporter()),
        &spt_env(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("only available on unix"), "{err}");
    // direct_tcp over the stack's dual layer, handed to the stack.
    let net = default_network();
    let eth = etif(&net);
    let arp = arp(&eth);
    let v4 = create_ipv4(None, None, &eth, &arp);
    let v6 = create_ipv6(None, None, &net, &eth);
    let tcp_layer = direct_tcp(&create_ipv4v6(&v4, &v6));
    let stack = direct_stackv4v6(
        Some(&tcp_layer),
        &ipv4_only_arg(None),
        &ipv6_only_arg(None),
        &net,
        &eth,
        &arp,
        &v4,
        &v6,
    );
    let main = squeezed(&eval(&stack_app(&stack), &[]).unwrap().main_rs);
    assert!(main.contains("DirectTcp::connect("), "{main}");
    assert!(main.contains("DirectStack::connect_with_tcp("), "{main}");
    assert!(main.find("DirectTcp::connect(") < main.find("DirectStack::connect_with_tcp("));
}
