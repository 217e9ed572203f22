// The "PostgresWire+obs" driver of the runner: the same program with a tracer and a metrics
// backend bootstrapped that sample and keep nothing (BENCH_INSTRUMENTED=1), as a service whose
// exporter drops this request's spans. The driver then starts a span per operation (not
// recording: no attributes are built) and records its metrics into no-op handlers: the overhead
// of being instrumented when nothing listens.
import Foundation
import Metrics
import Tracing

/// A tracer that samples nothing: every span it starts is a non-recording one.
struct UnsampledTracer: Tracer {
    typealias Span = NoOpTracer.NoOpSpan

    func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> NoOpTracer.NoOpSpan {
        NoOpTracer.NoOpSpan(context: context())
    }

    func startAnySpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> any Tracing.Span {
        NoOpTracer.NoOpSpan(context: context())
    }

    func forceFlush() {}
    func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {}
    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {}
}

/// A metrics backend whose handlers drop every value (not swift-metrics' own NOOPMetricsHandler,
/// which the driver recognises as "no backend").
struct DroppingMetrics: MetricsFactory {
    func makeCounter(label: String, dimensions: [(String, String)]) -> CounterHandler { NOOPMetricsHandler.instance }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> RecorderHandler { NOOPMetricsHandler.instance }
    func makeTimer(label: String, dimensions: [(String, String)]) -> TimerHandler { NOOPMetricsHandler.instance }
    func destroyCounter(_ handler: CounterHandler) {}
    func destroyRecorder(_ handler: RecorderHandler) {}
    func destroyTimer(_ handler: TimerHandler) {}
}

/// Bootstraps both when BENCH_INSTRUMENTED=1; true if it did.
func bootstrapInstrumentationIfAsked() -> Bool {
    guard ProcessInfo.processInfo.environment["BENCH_INSTRUMENTED"] == "1" else { return false }
    InstrumentationSystem.bootstrap(UnsampledTracer())
    MetricsSystem.bootstrap(DroppingMetrics())
    return true
}
