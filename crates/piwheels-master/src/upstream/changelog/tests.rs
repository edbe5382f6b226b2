//! The changelog's rows and serials read from XML-RPC answers, good and hostile.

use super::*;

fn answer(value: &str) -> String {
    format!(
        "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value>{value}</value>\n\
         </param>\n</params>\n</methodResponse>\n"
    )
}

fn rows(rows: &[&str]) -> String {
    let rows: Vec<String> = rows
        .iter()
        .map(|r| format!("<value><array><data>{r}</data></array></value>\n"))
        .collect();
    answer(&format!("<array><data>\n{}</data></array>", rows.concat()))
}

const GOOD: &str = "<value><string>Foo_Bar</string></value><value><string>1.0</string></value>\
     <value><int>1420070400</int></value><value><string>add source file foo_bar-1.0.tar.gz</string></value>\
     <value><int>1000001</int></value>";

fn events(text: &str) -> Result<Vec<ChangelogEvent>, XmlRpcError> {
    match parse_changelog(text)? {
        Answer::Value(events) => Ok(events),
        Answer::Fault { code, message } => panic!("a fault {code}: {message}"),
    }
}

fn row_error(text: &str) -> XmlRpcError {
    match events(text) {
        Err(XmlRpcError::Row { row, why }) => {
            assert_eq!(row, 0);
            *why
        }
        other => panic!("not a row error: {other:?}"),
    }
}

#[test]
fn rows_read_as_python_sends_them() {
    // As Python's xmlrpc.server writes them: ints, strings, nil, and bare text.
    let text = rows(&[
        GOOD,
        "<value><string>foo-bar</string></value><value><nil/></value><value><int>1420070450</int></value>\
         <value><string>create</string></value><value><int>1000002</int></value>",
        "<value>x &amp; y</value><value>2.0</value><value><i4>5</i4></value><value>remove release</value>\
         <value><i8>9000000000</i8></value>",
    ]);
    let got = events(&text).unwrap();
    assert_eq!(
        got,
        vec![
            ChangelogEvent {
                name: "Foo_Bar".into(),
                version: Some("1.0".into()),
                timestamp: 1_420_070_400,
                action: "add source file foo_bar-1.0.tar.gz".into(),
                serial: 1_000_001,
            },
            ChangelogEvent {
                name: "foo-bar".into(),
                version: None,
                timestamp: 1_420_070_450,
                action: "create".into(),
                serial: 1_000_002,
            },
            ChangelogEvent {
                name: "x & y".into(),
                version: Some("2.0".into()),
                timestamp: 5,
                action: "remove release".into(),
                serial: 9_000_000_000,
            },
        ]
    );
    assert!(in_order(1_000_000, &got));
    assert_eq!(events(&answer("<array><data></data></array>")), Ok(vec![]));
    assert_eq!(events(&answer("<array><data/></array>")), Ok(vec![]));
}

#[test]
fn rows_of_another_width_are_errors() {
    let four =
        "<value>a</value><value><nil/></value><value><int>1</int></value><value>create</value>";
    assert_eq!(row_error(&rows(&[four])), XmlRpcError::Width(4));
    let six = format!("{GOOD}<value>extra</value>");
    assert_eq!(row_error(&rows(&[&six])), XmlRpcError::Width(6));
    assert_eq!(row_error(&rows(&[""])), XmlRpcError::Width(0));
    // The second row is named.
    match events(&rows(&[GOOD, four])) {
        Err(XmlRpcError::Row { row: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_types_are_errors() {
    let string_serial = GOOD.replace("<int>1000001</int>", "<string>1000001</string>");
    assert_eq!(
        row_error(&rows(&[&string_serial])),
        XmlRpcError::Type {
            what: "serial",
            expected: "int",
            found: "string"
        }
    );
    let int_name = GOOD.replace("<string>Foo_Bar</string>", "<int>7</int>");
    assert!(matches!(
        row_error(&rows(&[&int_name])),
        XmlRpcError::Type {
            what: "the name",
            ..
        }
    ));
    let nil_action = GOOD.replace(
        "<string>add source file foo_bar-1.0.tar.gz</string>",
        "<nil/>",
    );
    assert!(matches!(
        row_error(&rows(&[&nil_action])),
        XmlRpcError::Type {
            what: "the action",
            found: "nil",
            ..
        }
    ));
    let struct_version = GOOD.replace(
        "<string>1.0</string>",
        "<struct><member><name>v</name><value>1</value></member></struct>",
    );
    assert!(matches!(
        row_error(&rows(&[&struct_version])),
        XmlRpcError::Type {
            what: "the version",
            found: "struct",
            ..
        }
    ));
    let double_time = GOOD.replace("<int>1420070400</int>", "<double>1.5</double>");
    assert!(matches!(
        row_error(&rows(&[&double_time])),
        XmlRpcError::Type {
            what: "timestamp",
            found: "double",
            ..
        }
    ));
    // A row that is not an array, an answer that is not one.
    let text = answer("<array><data><value><struct></struct></value></data></array>");
    assert!(matches!(
        row_error(&text),
        XmlRpcError::Type { what: "a row", .. }
    ));
    for not_array in [
        "<struct></struct>",
        "<int>5</int>",
        "some text",
        "",
        "<nil/>",
    ] {
        assert!(
            matches!(
                events(&answer(not_array)),
                Err(XmlRpcError::Type {
                    what: "the changelog",
                    expected: "array",
                    ..
                })
            ),
            "{not_array}"
        );
    }
}

#[test]
fn negative_serials_and_times_are_errors() {
    let negative = GOOD.replace("<int>1000001</int>", "<int>-1</int>");
    assert_eq!(
        row_error(&rows(&[&negative])),
        XmlRpcError::Negative {
            what: "serial",
            value: -1
        }
    );
    let before_1970 = GOOD.replace("<int>1420070400</int>", "<int>-5</int>");
    assert!(matches!(
        row_error(&rows(&[&before_1970])),
        XmlRpcError::Negative {
            what: "timestamp",
            ..
        }
    ));
    assert_eq!(
        parse_last_serial(&answer("<int>-3</int>")),
        Err(XmlRpcError::Negative {
            what: "the last serial",
            value: -3
        })
    );
}

#[test]
fn the_last_serial_reads() {
    assert_eq!(
        parse_last_serial(&answer("<int>123</int>")),
        Ok(Answer::Value(123))
    );
    assert_eq!(
        parse_last_serial(&answer("<i8>4294967296</i8>")),
        Ok(Answer::Value(1 << 32))
    );
    assert!(matches!(
        parse_last_serial(&answer("<string>123</string>")),
        Err(XmlRpcError::Type {
            found: "string",
            ..
        })
    ));
    assert!(matches!(
        parse_last_serial(&answer("<array><data></data></array>")),
        Err(XmlRpcError::Type { found: "array", .. })
    ));
}

#[test]
fn serials_out_of_order_are_returned_and_told() {
    let a = GOOD.to_owned();
    let b = GOOD.replace("<int>1000001</int>", "<int>999</int>");
    let got = events(&rows(&[&a, &b])).unwrap();
    assert_eq!(
        got.iter().map(|e| e.serial).collect::<Vec<_>>(),
        [1_000_001, 999]
    );
    assert!(!in_order(0, &got));
    let one = &got[..1];
    assert!(in_order(1_000_000, one));
    // Not above the serial asked for.
    assert!(!in_order(1_000_001, one));
    // A repeat is not in order either.
    let twice = [got[0].clone(), got[0].clone()];
    assert!(!in_order(0, &twice));
    assert!(in_order(5, &[]));
}

#[test]
fn odd_names_and_versions_are_returned_as_they_are() {
    let long = "n".repeat(300);
    let odd = GOOD
        .replace("<string>Foo_Bar</string>", "<string></string>")
        .replace("<string>1.0</string>", &format!("<string>{long}</string>"));
    let got = events(&rows(&[&odd])).unwrap();
    assert_eq!(got[0].name, "");
    assert_eq!(got[0].version.as_deref(), Some(long.as_str()));
}

#[test]
fn a_fault_is_an_answer() {
    let text = "<?xml version='1.0'?><methodResponse><fault><value><struct>\
         <member><name>faultCode</name><value><int>-32500</int></value></member>\
         <member><name>faultString</name><value><string>HTTPTooManyRequests: slow\ndown</string></value></member>\
         </struct></value></fault></methodResponse>";
    assert_eq!(
        parse_changelog(text),
        Ok(Answer::Fault {
            code: -32500,
            message: "HTTPTooManyRequests: slow\ndown".into()
        })
    );
    assert_eq!(fault_message("a\n  b"), "a b");
    assert_eq!(
        fault_message(&"x".repeat(5000)).chars().count(),
        MAX_FAULT + 1
    );
}

#[test]
fn calls_are_well_formed() {
    assert_eq!(
        method_call("changelog_since_serial", &[42]),
        "<?xml version='1.0'?>\n<methodCall><methodName>changelog_since_serial</methodName>\
         <params><param><value><int>42</int></value></param></params></methodCall>\n"
    );
    assert!(method_call("m", &[1 << 40]).contains("<i8>1099511627776</i8>"));
    assert!(method_call("changelog_last_serial", &[]).contains("<params></params>"));
}

#[test]
fn rate_limits_are_told_apart() {
    let fault = |code| UpstreamError::Fault {
        url: "u".into(),
        code,
        message: String::new(),
    };
    let status = |status| UpstreamError::Status {
        url: "u".into(),
        status,
    };
    assert!(fault(-32500).is_rate_limit());
    assert!(status(429).is_rate_limit());
    assert!(status(503).is_rate_limit());
    assert!(!fault(-32601).is_rate_limit());
    assert!(!status(500).is_rate_limit());
    assert!(!status(404).is_rate_limit());
}

#[test]
fn urls_must_be_http() {
    assert!(ChangelogClient::new("ftp://x/pypi", Duration::from_secs(1)).is_err());
    let c = ChangelogClient::new(" http://x/pypi ", Duration::from_secs(1)).unwrap();
    assert_eq!(c.url(), "http://x/pypi");
}
