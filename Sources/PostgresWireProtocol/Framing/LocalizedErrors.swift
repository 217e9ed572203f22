import Foundation

// Every public error type gives its full message as `localizedDescription` (Foundation's default for
// a Swift error is "The operation could not be completed"), the same text as `description`.

extension ProtocolError: LocalizedError {
    public var errorDescription: String? { description }
}

extension AuthenticationError: LocalizedError {
    public var errorDescription: String? { description }
}

extension StartupStateMachine.Failure: CustomStringConvertible, LocalizedError {
    public var description: String {
        switch self {
        case .server(let fields):
            let severity = fields[UInt8(ascii: "S")] ?? fields[UInt8(ascii: "V")] ?? "FATAL"
            let code = fields[UInt8(ascii: "C")] ?? "XX000"
            return "\(severity):  \(code): \(fields[UInt8(ascii: "M")] ?? "")"
        case .authentication(let e): return e.description
        case .protocolViolation(let e): return "protocol violation: \(e.description)"
        }
    }

    public var errorDescription: String? { description }
}
