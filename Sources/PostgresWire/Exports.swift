// Types from other modules that PostgresWire's public API uses, re-exported so that
// `import PostgresWire` is enough to name them: swift-log's `Logger` (the `logger:` parameters) and
// the protocol module's message types (`TransactionStatus`, `NotificationResponse`,
// `DiagnosticFields`, `BackendKeyData`, `AuthenticationError`, `ProtocolError`, `PQTraceFormatter`…).
@_exported import Logging
@_exported import PostgresWireProtocol
// Values, their codecs and the error type (`PostgresError`, `SQLState`, `ErrorCategory`).
@_exported import PostgresWireTypes
