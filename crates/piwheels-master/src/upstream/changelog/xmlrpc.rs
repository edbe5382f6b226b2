//! Reading an XML-RPC `methodResponse` with a real XML parser (`quick-xml`), in bounded
//! memory and time: a `DOCTYPE` is refused (so no entity of the document's own can be
//! defined, let alone expanded), only XML's five entities and character references are
//! understood, elements nest at most [`MAX_DEPTH`] deep, and every element must be one of
//! XML-RPC's. The reader never recurses deeper than the document nests, so a document
//! nested 100,000 deep is an error at its 33rd level, not a stack overflow.

use std::collections::VecDeque;

use quick_xml::Reader;
use quick_xml::events::{BytesRef, Event};

/// How deep elements may nest. The deepest answer the changelog client reads (an array of
/// rows) nests 11 deep (`methodResponse/params/param/value/array/data/value/array/data/
/// value/string`).
pub const MAX_DEPTH: usize = 32;

/// The most of an unexpected element's name or text an error quotes.
const QUOTE: usize = 60;

/// Why an answer is not the XML-RPC answer expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlRpcError {
    /// An empty body.
    #[error("an empty answer")]
    Empty,
    /// A body larger than the limit, in bytes.
    #[error("larger than {0} bytes")]
    TooLarge(u64),
    /// A body that is not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// An HTML page (by its `Content-Type`), as a proxy or a server's error page gives.
    #[error("an HTML page (Content-Type {0}), not XML")]
    Html(String),
    /// Not well-formed XML: the parser's message and the byte where it stopped.
    #[error("malformed XML at byte {at}: {why}")]
    Malformed {
        /// The byte offset.
        at: u64,
        /// The parser's message.
        why: String,
    },
    /// A `<!DOCTYPE …>`: refused, since it is what entity tricks (billion laughs, external
    /// entities) need, and XML-RPC has no use for one. An HTML error page usually has one.
    #[error("a DOCTYPE (refused; an HTML page?)")]
    Doctype,
    /// An entity reference other than XML's five (`&lt;` `&gt;` `&amp;` `&apos;` `&quot;`)
    /// or a character reference.
    #[error("an unknown or bad entity reference &{0};")]
    Entity(String),
    /// Elements nested deeper than [`MAX_DEPTH`].
    #[error("elements nested deeper than {0}")]
    TooDeep(usize),
    /// Not the XML-RPC structure expected here.
    #[error("expected {expected}, found {found}")]
    Unexpected {
        /// What the structure needs here.
        expected: &'static str,
        /// What the answer has (quoted, cut short).
        found: String,
    },
    /// A value of another type than expected.
    #[error("{what}: expected {expected}, found {found}")]
    Type {
        /// Which value.
        what: &'static str,
        /// The type needed.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// An integer element whose text is not an integer of 64 bits.
    #[error("not an integer: {0:?}")]
    Number(String),
    /// A negative serial or timestamp.
    #[error("a negative {what}: {value}")]
    Negative {
        /// Which number.
        what: &'static str,
        /// Its value.
        value: i64,
    },
    /// A changelog row that is not `[name, version, timestamp, action, serial]`.
    #[error("row {row}: {why}")]
    Row {
        /// The row's index, from 0.
        row: usize,
        /// What is wrong with it.
        why: Box<XmlRpcError>,
    },
    /// A changelog row of another length than 5.
    #[error("{0} items, not 5")]
    Width(usize),
}

/// An XML-RPC value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `<int>`, `<i4>`, `<i8>`.
    Int(i64),
    /// `<string>`, or text right inside `<value>`.
    Str(String),
    /// `<nil/>`.
    Nil,
    /// `<array>`.
    Array(Vec<Value>),
    /// `<struct>`: its members in order.
    Struct(Vec<(String, Value)>),
    /// A type the changelog has no use for (`boolean`, `double`, `dateTime.iso8601`,
    /// `base64`), its content not read.
    Other(&'static str),
}

impl Value {
    /// The type's name, for errors.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str(_) => "string",
            Value::Nil => "nil",
            Value::Array(_) => "array",
            Value::Struct(_) => "struct",
            Value::Other(kind) => kind,
        }
    }
}

/// What a well-formed `methodResponse` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    /// The result.
    Value(T),
    /// A fault: the server understood the call and refused it.
    Fault {
        /// Its `faultCode`.
        code: i64,
        /// Its `faultString`, as sent.
        message: String,
    },
}

/// One step of the document: XML's events folded into what XML-RPC cares about.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open(String),
    Close(String),
    /// Text, its references resolved, runs of text, references and CDATA joined.
    Text(String),
    Eof,
}

fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Open(name) => format!("<{}>", quote(name)),
        Tok::Close(name) => format!("</{}>", quote(name)),
        Tok::Text(text) => format!("text {:?}", quote(text.trim())),
        Tok::Eof => "the end of the answer".to_owned(),
    }
}

fn is_space(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

fn resolve(r: &BytesRef<'_>) -> Result<char, XmlRpcError> {
    let bad = || XmlRpcError::Entity(quote(r));
    Ok(match &**r {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => r.resolve_char_ref().map_err(|_| bad())?.ok_or_else(bad)?,
    })
}

/// The reader: `quick-xml`'s events as [`Tok`]s, one of lookahead.
struct Xml<'a> {
    reader: Reader<&'a [u8]>,
    queue: VecDeque<Tok>,
    depth: usize,
}

impl<'a> Xml<'a> {
    fn new(text: &'a str) -> Self {
        let mut reader = Reader::from_str(text);
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        config.check_comments = true;
        Xml {
            reader,
            queue: VecDeque::new(),
            depth: 0,
        }
    }

    fn malformed(&self, e: impl std::fmt::Display) -> XmlRpcError {
        XmlRpcError::Malformed {
            at: self.reader.error_position(),
            why: e.to_string(),
        }
    }

    /// Reads events until a structural one; queues the text before it, if any, then it.
    fn fill(&mut self) -> Result<(), XmlRpcError> {
        let mut text: Option<String> = None;
        let structural = loop {
            let event = self.reader.read_event().map_err(|e| self.malformed(e))?;
            match event {
                Event::Text(t) => text.get_or_insert_default().push_str(&t.xml10_content()),
                Event::CData(t) => text.get_or_insert_default().push_str(&t.xml10_content()),
                Event::GeneralRef(r) => text.get_or_insert_default().push(resolve(&r)?),
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
                Event::DocType(_) => return Err(XmlRpcError::Doctype),
                Event::Start(e) => {
                    self.depth += 1;
                    if self.depth > MAX_DEPTH {
                        return Err(XmlRpcError::TooDeep(MAX_DEPTH));
                    }
                    // XML-RPC has no attributes, but malformed ones are malformed XML.
                    for a in e.attributes() {
                        a.map_err(|e| self.malformed(e))?;
                    }
                    break Tok::Open(e.name().as_ref().to_owned());
                }
                Event::End(e) => {
                    self.depth = self.depth.saturating_sub(1);
                    break Tok::Close(e.name().as_ref().to_owned());
                }
                // `expand_empty_elements` makes `<nil/>` a start and an end.
                Event::Empty(e) => {
                    return Err(self.malformed(format!("unexpanded <{}/>", quote(e.name().0))));
                }
                Event::Eof => break Tok::Eof,
            }
        };
        self.queue.extend(text.map(Tok::Text));
        self.queue.push_back(structural);
        Ok(())
    }

    fn next(&mut self) -> Result<Tok, XmlRpcError> {
        if self.queue.is_empty() {
            self.fill()?;
        }
        Ok(self.queue.pop_front().expect("fill queues a token"))
    }

    /// The next token that is not whitespace.
    fn next_solid(&mut self) -> Result<Tok, XmlRpcError> {
        loop {
            match self.next()? {
                Tok::Text(t) if is_space(&t) => {}
                tok => return Ok(tok),
            }
        }
    }

    fn expect_open(
        &mut self,
        name: &'static str,
        expected: &'static str,
    ) -> Result<(), XmlRpcError> {
        match self.next_solid()? {
            Tok::Open(n) if n == name => Ok(()),
            tok => Err(XmlRpcError::Unexpected {
                expected,
                found: describe(&tok),
            }),
        }
    }

    fn expect_close(
        &mut self,
        name: &'static str,
        expected: &'static str,
    ) -> Result<(), XmlRpcError> {
        match self.next_solid()? {
            Tok::Close(n) if n == name => Ok(()),
            tok => Err(XmlRpcError::Unexpected {
                expected,
                found: describe(&tok),
            }),
        }
    }

    /// The text up to `</name>` (empty if none).
    fn text_until(
        &mut self,
        name: &'static str,
        expected: &'static str,
    ) -> Result<String, XmlRpcError> {
        let text = match self.next()? {
            Tok::Text(t) => t,
            Tok::Close(n) if n == name => return Ok(String::new()),
            tok => {
                return Err(XmlRpcError::Unexpected {
                    expected,
                    found: describe(&tok),
                });
            }
        };
        self.expect_close(name, expected)?;
        Ok(text)
    }

    /// A value's content, after its `<value>`, through its `</value>`.
    fn value_body(&mut self) -> Result<Value, XmlRpcError> {
        let first = self.next()?;
        let typed = match first {
            Tok::Close(n) if n == "value" => return Ok(Value::Str(String::new())),
            Tok::Text(text) => match self.next()? {
                // XML-RPC's default type: text right inside `<value>` is a string.
                Tok::Close(n) if n == "value" => return Ok(Value::Str(text)),
                Tok::Open(name) if is_space(&text) => name,
                tok => {
                    return Err(XmlRpcError::Unexpected {
                        expected: "a typed value or text in <value>",
                        found: describe(&tok),
                    });
                }
            },
            Tok::Open(name) => name,
            tok => {
                return Err(XmlRpcError::Unexpected {
                    expected: "a value",
                    found: describe(&tok),
                });
            }
        };
        let value = self.typed(&typed)?;
        self.expect_close("value", "</value>")?;
        Ok(value)
    }

    /// A typed value, after its `<type>`, through its `</type>`.
    fn typed(&mut self, name: &str) -> Result<Value, XmlRpcError> {
        Ok(match name {
            "int" | "i4" | "i8" | "ex:i8" => {
                let text = match name {
                    "int" => self.text_until("int", "an integer, then </int>")?,
                    "i4" => self.text_until("i4", "an integer, then </i4>")?,
                    "i8" => self.text_until("i8", "an integer, then </i8>")?,
                    _ => self.text_until("ex:i8", "an integer, then </ex:i8>")?,
                };
                let number = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
                Value::Int(
                    number
                        .parse()
                        .map_err(|_| XmlRpcError::Number(quote(number)))?,
                )
            }
            "string" => Value::Str(self.text_until("string", "text, then </string>")?),
            "nil" | "ex:nil" => {
                match self.next_solid()? {
                    Tok::Close(n) if n == name => {}
                    tok => {
                        return Err(XmlRpcError::Unexpected {
                            expected: "an empty <nil/>",
                            found: describe(&tok),
                        });
                    }
                }
                Value::Nil
            }
            "array" => Value::Array(self.array()?),
            "struct" => Value::Struct(self.members()?),
            "boolean" | "double" | "dateTime.iso8601" | "base64" => {
                let kind = match name {
                    "boolean" => "boolean",
                    "double" => "double",
                    "base64" => "base64",
                    _ => "dateTime.iso8601",
                };
                match self.next()? {
                    Tok::Close(n) if n == name => {}
                    Tok::Text(_) => match self.next()? {
                        Tok::Close(n) if n == name => {}
                        tok => {
                            return Err(XmlRpcError::Unexpected {
                                expected: "text, then its end tag",
                                found: describe(&tok),
                            });
                        }
                    },
                    tok => {
                        return Err(XmlRpcError::Unexpected {
                            expected: "text, then its end tag",
                            found: describe(&tok),
                        });
                    }
                }
                Value::Other(kind)
            }
            other => {
                return Err(XmlRpcError::Unexpected {
                    expected: "an XML-RPC type",
                    found: format!("<{}>", quote(other)),
                });
            }
        })
    }

    /// An array's values, after its `<array>`, through its `</array>`.
    fn array(&mut self) -> Result<Vec<Value>, XmlRpcError> {
        let mut out = Vec::new();
        self.rows(|_, v| {
            out.push(v);
            Ok(())
        })?;
        Ok(out)
    }

    /// An array's values, after its `<array>`, through its `</array>`, handed to `each`
    /// with their index as they come (so a long array is not kept twice).
    fn rows(
        &mut self,
        mut each: impl FnMut(usize, Value) -> Result<(), XmlRpcError>,
    ) -> Result<(), XmlRpcError> {
        self.expect_open("data", "<data>")?;
        let mut i = 0;
        loop {
            match self.next_solid()? {
                Tok::Open(n) if n == "value" => {
                    each(i, self.value_body()?)?;
                    i += 1;
                }
                Tok::Close(n) if n == "data" => break,
                tok => {
                    return Err(XmlRpcError::Unexpected {
                        expected: "<value> or </data>",
                        found: describe(&tok),
                    });
                }
            }
        }
        self.expect_close("array", "</array>")
    }

    /// A struct's members, after its `<struct>`, through its `</struct>`.
    fn members(&mut self) -> Result<Vec<(String, Value)>, XmlRpcError> {
        let mut out = Vec::new();
        loop {
            match self.next_solid()? {
                Tok::Open(n) if n == "member" => {
                    self.expect_open("name", "<name>")?;
                    let name = self.text_until("name", "a name, then </name>")?;
                    self.expect_open("value", "<value>")?;
                    let value = self.value_body()?;
                    self.expect_close("member", "</member>")?;
                    out.push((name, value));
                }
                Tok::Close(n) if n == "struct" => return Ok(out),
                tok => {
                    return Err(XmlRpcError::Unexpected {
                        expected: "<member> or </struct>",
                        found: describe(&tok),
                    });
                }
            }
        }
    }

    /// The end of the document: nothing but whitespace and comments after the response.
    fn end(&mut self) -> Result<(), XmlRpcError> {
        match self.next_solid()? {
            Tok::Eof => Ok(()),
            tok => Err(XmlRpcError::Unexpected {
                expected: "the end of the answer",
                found: describe(&tok),
            }),
        }
    }
}

/// A fault's `faultCode` and `faultString`, from its struct.
fn fault(value: Value) -> Result<(i64, String), XmlRpcError> {
    let Value::Struct(members) = value else {
        return Err(XmlRpcError::Type {
            what: "a fault",
            expected: "struct",
            found: value.kind(),
        });
    };
    let (mut code, mut message) = (None, None);
    for (name, value) in members {
        match (name.as_str(), value) {
            ("faultCode", Value::Int(c)) => code = Some(c),
            ("faultString", Value::Str(s)) => message = Some(s),
            ("faultCode", v) => {
                return Err(XmlRpcError::Type {
                    what: "faultCode",
                    expected: "int",
                    found: v.kind(),
                });
            }
            ("faultString", v) => {
                return Err(XmlRpcError::Type {
                    what: "faultString",
                    expected: "string",
                    found: v.kind(),
                });
            }
            _ => {}
        }
    }
    match (code, message) {
        (Some(code), Some(message)) => Ok((code, message)),
        _ => Err(XmlRpcError::Unexpected {
            expected: "a fault with a faultCode and a faultString",
            found: "a fault without them".to_owned(),
        }),
    }
}

/// Reads a `methodResponse` whose one parameter is read by `param` (called after the
/// parameter's `<value>`, through its `</value>`), or a fault.
pub(crate) fn response<T>(
    text: &str,
    param: impl FnOnce(&mut ValueReader<'_, '_>) -> Result<T, XmlRpcError>,
) -> Result<Answer<T>, XmlRpcError> {
    if is_space(text) {
        return Err(XmlRpcError::Empty);
    }
    let mut xml = Xml::new(text);
    xml.expect_open("methodResponse", "<methodResponse>")?;
    let out = match xml.next_solid()? {
        Tok::Open(n) if n == "params" => {
            xml.expect_open("param", "<param>")?;
            xml.expect_open("value", "<value>")?;
            let value = param(&mut ValueReader { xml: &mut xml })?;
            xml.expect_close("param", "</param>")?;
            xml.expect_close("params", "</params>")?;
            Answer::Value(value)
        }
        Tok::Open(n) if n == "fault" => {
            xml.expect_open("value", "<value>")?;
            let (code, message) = fault(xml.value_body()?)?;
            xml.expect_close("fault", "</fault>")?;
            Answer::Fault { code, message }
        }
        tok => {
            return Err(XmlRpcError::Unexpected {
                expected: "<params> or <fault>",
                found: describe(&tok),
            });
        }
    };
    xml.expect_close("methodResponse", "</methodResponse>")?;
    xml.end()?;
    Ok(out)
}

/// The reader positioned inside a response's `<value>`.
pub(crate) struct ValueReader<'x, 'a> {
    xml: &'x mut Xml<'a>,
}

impl ValueReader<'_, '_> {
    /// The whole value, through its `</value>`.
    pub(crate) fn value(&mut self) -> Result<Value, XmlRpcError> {
        self.xml.value_body()
    }

    /// An array's items one by one, through the value's `</value>`: `each` gets each
    /// item's index and value as it is read. Anything but an array is a
    /// [`XmlRpcError::Type`] error about `what`.
    pub(crate) fn array(
        &mut self,
        what: &'static str,
        each: impl FnMut(usize, Value) -> Result<(), XmlRpcError>,
    ) -> Result<(), XmlRpcError> {
        let xml = &mut *self.xml;
        let found = match xml.next()? {
            Tok::Text(t) if is_space(&t) => xml.next()?,
            tok => tok,
        };
        match found {
            Tok::Open(n) if n == "array" => {
                xml.rows(each)?;
                xml.expect_close("value", "</value>")
            }
            Tok::Open(n) => {
                let value = xml.typed(&n)?;
                Err(XmlRpcError::Type {
                    what,
                    expected: "array",
                    found: value.kind(),
                })
            }
            // Text, or nothing, right inside `<value>`: a string.
            Tok::Text(_) => Err(XmlRpcError::Type {
                what,
                expected: "array",
                found: "string",
            }),
            Tok::Close(n) if n == "value" => Err(XmlRpcError::Type {
                what,
                expected: "array",
                found: "string",
            }),
            tok => Err(XmlRpcError::Unexpected {
                expected: "a value",
                found: describe(&tok),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
