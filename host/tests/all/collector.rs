//! A test OpenTelemetry collector: OTLP over HTTP (protobuf) on 127.0.0.1,
//! in the test process, keeping every span it is sent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// One span as received, with its resource's service name.
#[derive(Debug, Clone)]
pub struct Received {
    pub span: Span,
    pub service: String,
}

impl Received {
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    pub fn parent_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }

    /// A string or integer attribute, as text.
    pub fn attribute(&self, key: &str) -> Option<String> {
        attribute(&self.span.attributes, key)
    }

    /// Whether the span's status is an error.
    pub fn is_error(&self) -> bool {
        self.span.status.as_ref().is_some_and(|s| s.code == 2)
    }
}

/// Attribute `key` of `attributes`, as text.
fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let value = attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()?;
    Some(match value {
        Value::StringValue(s) => s.clone(),
        Value::IntValue(i) => i.to_string(),
        Value::BoolValue(b) => b.to_string(),
        Value::DoubleValue(d) => d.to_string(),
        other => format!("{other:?}"),
    })
}

/// One data point of a pushed metric: a sum's or gauge's value, a
/// histogram's count.
#[derive(Debug, Clone)]
pub struct Point {
    pub metric: String,
    pub attributes: Vec<KeyValue>,
    pub value: f64,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Listens until dropped.
pub struct Collector {
    pub url: String,
    spans: Arc<Mutex<Vec<Received>>>,
    points: Arc<Mutex<Vec<Point>>>,
    requests: Arc<Mutex<usize>>,
}

impl Collector {
    pub fn start() -> Self {
        Self::answering(200)
    }

    /// A collector that answers trace requests with `status` (keeping
    /// their spans only when it is 200).
    pub fn answering(status: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a collector");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let spans = Arc::new(Mutex::new(Vec::new()));
        let points = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(0));
        let kept = Kept {
            status,
            spans: Arc::clone(&spans),
            points: Arc::clone(&points),
            requests: Arc::clone(&requests),
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = kept.clone();
                std::thread::spawn(move || serve(stream, &kept));
            }
        });
        Self {
            url,
            spans,
            points,
            requests,
        }
    }

    /// The newest value pushed for `metric` with these attributes.
    pub fn metric(&self, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.points
            .lock()
            .expect("points")
            .iter()
            .rev()
            .find(|p| {
                p.metric == metric
                    && labels
                        .iter()
                        .all(|(k, v)| attribute(&p.attributes, k).as_deref() == Some(*v))
            })
            .map(|p| p.value)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Received> {
        self.spans.lock().expect("spans").clone()
    }

    /// How many trace export requests arrived.
    pub fn requests(&self) -> usize {
        *self.requests.lock().expect("requests")
    }

    /// The spans of trace `trace_id` once at least `n` spans arrived (or
    /// after 20 s, whatever arrived).
    pub fn wait_for(&self, trace_id: &str, n: usize) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let spans: Vec<Received> = self
                .spans()
                .into_iter()
                .filter(|s| s.trace_id() == trace_id)
                .collect();
            if spans.len() >= n || start.elapsed() > Duration::from_secs(20) {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[derive(Clone)]
struct Kept {
    status: u16,
    spans: Arc<Mutex<Vec<Received>>>,
    points: Arc<Mutex<Vec<Point>>>,
    requests: Arc<Mutex<usize>>,
}

/// Answer the requests of one connection (HTTP/1.1, keep-alive).
fn serve(stream: TcpStream, kept: &Kept) {
    let mut writer = stream.try_clone().expect("clone the stream");
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let refused = kept.status != 200 && line.starts_with("POST /v1/traces");
        if !refused
            && line.starts_with("POST /v1/traces")
            && let Ok(request) = ExportTraceServiceRequest::decode(body.as_slice())
        {
            let mut spans = kept.spans.lock().expect("spans");
            for resource in request.resource_spans {
                let service = resource
                    .resource
                    .iter()
                    .flat_map(|r| &r.attributes)
                    .find(|kv| kv.key == "service.name")
                    .and_then(|kv| kv.value.as_ref())
                    .and_then(|v| v.value.as_ref())
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_default();
                for scope in resource.scope_spans {
                    for span in scope.spans {
                        spans.push(Received {
                            span,
                            service: service.clone(),
                        });
                    }
                }
            }
            *kept.requests.lock().expect("requests") += 1;
        }
        if line.starts_with("POST /v1/metrics")
            && let Ok(request) = ExportMetricsServiceRequest::decode(body.as_slice())
        {
            let mut points = kept.points.lock().expect("points");
            for metric in request
                .resource_metrics
                .into_iter()
                .flat_map(|r| r.scope_metrics)
                .flat_map(|s| s.metrics)
            {
                let number = |value: Option<number_data_point::Value>| match value {
                    Some(number_data_point::Value::AsDouble(d)) => d,
                    Some(number_data_point::Value::AsInt(i)) => i as f64,
                    None => f64::NAN,
                };
                let found: Vec<(Vec<KeyValue>, f64)> = match metric.data {
                    Some(metric::Data::Sum(sum)) => sum
                        .data_points
                        .into_iter()
                        .map(|p| (p.attributes, number(p.value)))
                        .collect(),
                    Some(metric::Data::Gauge(gauge)) => gauge
                        .data_points
                        .into_iter()
                        .map(|p| (p.attributes, number(p.value)))
                        .collect(),
                    Some(metric::Data::Histogram(histogram)) => histogram
                        .data_points
                        .into_iter()
                        .map(|p| (p.attributes, p.count as f64))
                        .collect(),
                    _ => Vec::new(),
                };
                points.extend(found.into_iter().map(|(attributes, value)| Point {
                    metric: metric.name.clone(),
                    attributes,
                    value,
                }));
            }
        }
        let status = if refused { kept.status } else { 200 };
        let answer = format!(
            "HTTP/1.1 {status} Answer\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
        );
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}
