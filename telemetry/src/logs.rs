//! JSON log lines: `timestamp`, `level`, `target`, `message`, the event's fields, and the
//! `trace_id`, `span_id` and `request_id` of the request the event belongs to, so a log line
//! joins its trace and its EMF record.

use std::fmt;

use opentelemetry::trace::TraceContextExt;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber, span};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Span field names copied onto every log line inside the span.
pub const TRACE_ID_FIELD: &str = "trace_id";
pub const REQUEST_ID_FIELD: &str = "request_id";

/// `trace_id` / `request_id` (and the OpenTelemetry name) recorded on a span, kept in its
/// extensions.
#[derive(Debug, Default, Clone)]
struct Correlation {
    trace_id: Option<String>,
    request_id: Option<String>,
    otel_name: Option<String>,
}

impl Visit for Correlation {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            TRACE_ID_FIELD => self.trace_id = Some(value.to_owned()),
            REQUEST_ID_FIELD => self.request_id = Some(value.to_owned()),
            "otel.name" => self.otel_name = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if matches!(
            field.name(),
            TRACE_ID_FIELD | REQUEST_ID_FIELD | "otel.name"
        ) {
            // `%value` fields arrive here; strip the quotes Debug would add to strings.
            let text = format!("{value:?}");
            self.record_str(field, text.trim_matches('"'));
        }
    }
}

/// Remembers the correlation fields of spans for [`JsonFormat`].
#[derive(Debug, Default, Clone, Copy)]
pub struct CorrelationLayer;

impl<S> Layer<S> for CorrelationLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut correlation = Correlation::default();
        attrs.record(&mut correlation);
        if (correlation.trace_id.is_some()
            || correlation.request_id.is_some()
            || correlation.otel_name.is_some())
            && let Some(span) = ctx.span(id)
        {
            span.extensions_mut().insert(correlation);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        let mut correlation = extensions.remove::<Correlation>().unwrap_or_default();
        values.record(&mut correlation);
        extensions.insert(correlation);
    }
}

struct JsonFields<'a>(&'a mut Map<String, Value>);

impl Visit for JsonFields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

/// One JSON object per event (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonFormat;

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        let mut timestamp = String::new();
        tracing_subscriber::fmt::time::SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        line.insert("timestamp".into(), timestamp.into());
        let metadata = event.metadata();
        line.insert("level".into(), metadata.level().as_str().into());
        line.insert("target".into(), metadata.target().into());
        event.record(&mut JsonFields(&mut line));

        let mut correlation = Correlation::default();
        let mut span_id = None;
        if let Some(scope) = ctx.event_scope() {
            for (depth, span) in scope.enumerate() {
                let innermost = depth == 0;
                if innermost {
                    span_id = otel_span_id(&span.id());
                }
                let extensions = span.extensions();
                let found = extensions.get::<Correlation>();
                if innermost {
                    let name = found
                        .and_then(|c| c.otel_name.as_deref())
                        .unwrap_or(span.name());
                    line.insert("span".into(), name.into());
                }
                if let Some(found) = found {
                    correlation.trace_id = correlation.trace_id.or(found.trace_id.clone());
                    correlation.request_id = correlation.request_id.or(found.request_id.clone());
                }
            }
        }
        if let Some(trace_id) = correlation.trace_id {
            line.insert(TRACE_ID_FIELD.into(), trace_id.into());
        }
        if let Some(span_id) = span_id {
            line.insert("span_id".into(), span_id.into());
        }
        if let Some(request_id) = correlation.request_id {
            line.insert(REQUEST_ID_FIELD.into(), request_id.into());
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// The OpenTelemetry span id of a `tracing` span (when the OpenTelemetry layer is installed).
fn otel_span_id(id: &span::Id) -> Option<String> {
    tracing::dispatcher::get_default(|dispatch| {
        tracing_opentelemetry::get_otel_context(id, dispatch).and_then(|cx| {
            let span_context = cx.span().span_context().clone();
            span_context
                .is_valid()
                .then(|| format!("{:016x}", span_context.span_id()))
        })
    })
}
