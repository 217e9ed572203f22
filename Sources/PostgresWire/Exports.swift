// Types from other modules that PostgresWire's public API uses, made nameable with
// `import PostgresWire` alone: swift-log's `Logger` (the `logger:` parameters) and the row and
// value types (PostgresWireTypes) are re-exported whole. Of the protocol core
// (PostgresWireProtocol: messages, codecs, state machines) only the few values the API hands out
// are named here; a program that works with protocol messages (a proxy, a test) imports
// PostgresWireProtocol itself.
@_exported import Logging
import PostgresWireProtocol
@_exported import PostgresWireTypes

/// The server's transaction state after a command (`Connection.transactionStatus`).
public typealias TransactionStatus = PostgresWireProtocol.TransactionStatus
/// A NOTIFY delivered to a listening connection.
public typealias NotificationResponse = PostgresWireProtocol.NotificationResponse
/// The fields of an ErrorResponse or NoticeResponse.
public typealias DiagnosticFields = PostgresWireProtocol.DiagnosticFields
/// The backend's process ID and cancel key (`Connection.backendKeyData`).
public typealias BackendKeyData = PostgresWireProtocol.BackendKeyData
/// Why authentication failed on the client's side.
public typealias AuthenticationError = PostgresWireProtocol.AuthenticationError
/// A server message that breaks the protocol.
public typealias ProtocolError = PostgresWireProtocol.ProtocolError
/// Receives every protocol message sent and received (`Connection.connect(tracer:)`).
public typealias MessageTracer = PostgresWireProtocol.MessageTracer
/// Which way a traced message went.
public typealias TraceDirection = PostgresWireProtocol.TraceDirection
/// libpq's PQtrace format.
public typealias PQTraceFormatter = PostgresWireProtocol.PQTraceFormatter
/// The format of a COPY the server started (CopyInResponse/CopyOutResponse).
public typealias CopyResponse = PostgresWireProtocol.CopyResponse
