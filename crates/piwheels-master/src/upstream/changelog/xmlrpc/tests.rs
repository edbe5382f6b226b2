//! The XML-RPC reader against good and hostile documents.

use super::*;

fn value(text: &str) -> Result<Value, XmlRpcError> {
    let doc = format!(
        "<?xml version='1.0'?><methodResponse><params><param><value>{text}</value>\
         </param></params></methodResponse>"
    );
    match response(&doc, |r| r.value())? {
        Answer::Value(v) => Ok(v),
        Answer::Fault { code, message } => panic!("a fault {code} {message}"),
    }
}

#[test]
fn every_type_reads() {
    assert_eq!(value("<int>42</int>"), Ok(Value::Int(42)));
    assert_eq!(value("<i4> -7 </i4>"), Ok(Value::Int(-7)));
    assert_eq!(value("<i8>9000000000</i8>"), Ok(Value::Int(9_000_000_000)));
    assert_eq!(value("<ex:i8>5</ex:i8>"), Ok(Value::Int(5)));
    assert_eq!(value("<string>a b</string>"), Ok(Value::Str("a b".into())));
    assert_eq!(value("<string/>"), Ok(Value::Str(String::new())));
    assert_eq!(value("<string></string>"), Ok(Value::Str(String::new())));
    assert_eq!(value(" bare text "), Ok(Value::Str(" bare text ".into())));
    assert_eq!(value(""), Ok(Value::Str(String::new())));
    assert_eq!(value("<nil/>"), Ok(Value::Nil));
    assert_eq!(value("<ex:nil/>"), Ok(Value::Nil));
    assert_eq!(value("\n <nil></nil>\n"), Ok(Value::Nil));
    assert_eq!(value("<boolean>1</boolean>"), Ok(Value::Other("boolean")));
    assert_eq!(value("<double>1.5</double>"), Ok(Value::Other("double")));
    assert_eq!(
        value("<array><data><value>x</value><value><int>1</int></value></data></array>"),
        Ok(Value::Array(vec![Value::Str("x".into()), Value::Int(1)]))
    );
    assert_eq!(
        value("<struct><member><name>k</name><value><nil/></value></member></struct>"),
        Ok(Value::Struct(vec![("k".into(), Value::Nil)]))
    );
}

#[test]
fn references_and_cdata_are_text() {
    assert_eq!(
        value("<string>a&amp;b &lt;&gt; &#65;&#x42; &quot;&apos;</string>"),
        Ok(Value::Str("a&b <> AB \"'".into()))
    );
    assert_eq!(
        value("<string>x<![CDATA[<y>]]>z</string>"),
        Ok(Value::Str("x<y>z".into()))
    );
    assert_eq!(value("a<!-- c -->b"), Ok(Value::Str("ab".into())));
}

#[test]
fn unknown_entities_and_doctypes_are_refused() {
    assert_eq!(
        value("<string>&lol;</string>"),
        Err(XmlRpcError::Entity("lol".into()))
    );
    assert!(matches!(
        value("<string>&#0;</string>"),
        Err(XmlRpcError::Entity(_))
    ));
    let laughs = "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol \"lol\">\
         <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>\
         <methodResponse><params><param><value><string>&lol2;</string></value>\
         </param></params></methodResponse>";
    assert_eq!(
        response(laughs, |r| r.value()).err(),
        Some(XmlRpcError::Doctype)
    );
    let external = "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\
         <methodResponse><params><param><value>&x;</value></param></params></methodResponse>";
    assert_eq!(
        response(external, |r| r.value()).err(),
        Some(XmlRpcError::Doctype)
    );
}

#[test]
fn deep_nesting_stops_at_the_limit() {
    let depth = 100_000;
    let doc = format!(
        "<methodResponse><params><param><value>{}{}",
        "<array><data><value>".repeat(depth),
        "</value></data></array>".repeat(depth)
    );
    assert_eq!(
        response(&doc, |r| r.value()).err(),
        Some(XmlRpcError::TooDeep(MAX_DEPTH))
    );
    // Deep within the limit reads.
    let ok = format!(
        "{}<int>1</int>{}",
        "<array><data><value>".repeat(8),
        "</value></data></array>".repeat(8)
    );
    assert!(value(&ok).is_ok());
}

#[test]
fn malformed_xml_is_an_error() {
    for bad in [
        "<int>1</i4>",
        "<string>a</value>",
        "<int>1",
        "<string>a<b</string>",
        "<string a=>x</string>",
    ] {
        let got = value(bad);
        assert!(
            matches!(
                got,
                Err(XmlRpcError::Malformed { .. } | XmlRpcError::Unexpected { .. })
            ),
            "{bad}: {got:?}"
        );
    }
    let cut = "<methodResponse><params><param><value><int>1</int>";
    assert!(matches!(
        response(cut, |r| r.value()).err(),
        Some(XmlRpcError::Unexpected { .. })
    ));
}

#[test]
fn bad_values_are_errors() {
    assert_eq!(
        value("<int>12a</int>"),
        Err(XmlRpcError::Number("12a".into()))
    );
    assert_eq!(
        value("<int></int>"),
        Err(XmlRpcError::Number(String::new()))
    );
    assert_eq!(
        value("<int>99999999999999999999</int>"),
        Err(XmlRpcError::Number("99999999999999999999".into()))
    );
    assert!(matches!(
        value("<int><string>1</string></int>"),
        Err(XmlRpcError::Unexpected { .. })
    ));
    assert!(matches!(
        value("<script>x</script>"),
        Err(XmlRpcError::Unexpected { .. })
    ));
    assert!(matches!(
        value("text<int>1</int>"),
        Err(XmlRpcError::Unexpected { .. })
    ));
    assert!(matches!(
        value("<nil>x</nil>"),
        Err(XmlRpcError::Unexpected { .. })
    ));
    assert!(matches!(
        value("<array><value>1</value></array>"),
        Err(XmlRpcError::Unexpected { .. })
    ));
}

#[test]
fn only_one_response_and_nothing_after_it() {
    for bad in [
        "",
        "  \n",
        "<html><body>502 Bad Gateway</body></html>",
        "not xml at all",
        "<methodResponse></methodResponse>",
        "<methodResponse><params><param><value>1</value></param></params></methodResponse><x/>",
        "<methodResponse><params><param><value>1</value></param></params></methodResponse>junk",
        "<methodResponse><params><param><value>1</value><value>2</value></param></params></methodResponse>",
    ] {
        assert!(response(bad, |r| r.value()).is_err(), "{bad:?}");
    }
    assert_eq!(response("", |r| r.value()).err(), Some(XmlRpcError::Empty));
    let html = response("<html><body>x</body></html>", |r| r.value()).err();
    assert_eq!(
        html,
        Some(XmlRpcError::Unexpected {
            expected: "<methodResponse>",
            found: "<html>".into()
        })
    );
}

#[test]
fn a_fault_reads() {
    let doc = "<?xml version='1.0'?>\n<methodResponse><fault><value><struct>\
         <member><name>faultCode</name><value><int>-32500</int></value></member>\
         <member><name>faultString</name><value><string>slow down</string></value></member>\
         </struct></value></fault></methodResponse>\n";
    match response(doc, |r| r.value()) {
        Ok(Answer::Fault { code, message }) => {
            assert_eq!((code, message.as_str()), (-32500, "slow down"));
        }
        _ => panic!("not read as a fault"),
    }
    let no_code = "<methodResponse><fault><value><struct>\
         <member><name>faultString</name><value>x</value></member>\
         </struct></value></fault></methodResponse>";
    assert!(response(no_code, |r| r.value()).is_err());
    let string_code = "<methodResponse><fault><value><struct>\
         <member><name>faultCode</name><value>1</value></member>\
         <member><name>faultString</name><value>x</value></member>\
         </struct></value></fault></methodResponse>";
    assert!(matches!(
        response(string_code, |r| r.value()).err(),
        Some(XmlRpcError::Type {
            what: "faultCode",
            ..
        })
    ));
    let not_struct = "<methodResponse><fault><value><int>1</int></value></fault></methodResponse>";
    assert!(matches!(
        response(not_struct, |r| r.value()).err(),
        Some(XmlRpcError::Type {
            what: "a fault",
            ..
        })
    ));
}

#[test]
fn errors_quote_little() {
    let long = "x".repeat(10_000);
    let doc = format!("<{long}></{long}>");
    let err = response(&doc, |r| r.value()).unwrap_err().to_string();
    assert!(err.len() < 200, "{err}");
}
