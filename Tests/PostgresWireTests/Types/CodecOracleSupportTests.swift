import Foundation
import PostgresWire
import PostgresWireProtocol
import TestSupport

/// Gets the same values from a real server in binary (COPY ... FORMAT binary) and text (simple
/// query), with their type OIDs, so codecs and the renderer can be checked against the server.
struct CodecOracle {
    struct Value {
        var expression: String
        var type: PostgresDataType
        var typeModifier: Int32
        var binary: [UInt8]?
        var text: String?
    }

    let connection: Connection

    init() throws {
        let server = try TestServer.shared()
        connection = try Connection.connect(server.dsn())
    }

    /// Session settings as the server reports them, plus extra_float_digits and bytea_output (not reported).
    func settings() throws -> PostgresSessionSettings {
        let efd = try connection.simpleQuery("SHOW extra_float_digits")[0].rows[0][0]!
        let bytea = try connection.simpleQuery("SHOW bytea_output")[0].rows[0][0]!
        return PostgresSessionSettings(parameters: connection.parameters, extraFloatDigits: Int(efd)!, byteaOutput: bytea)
    }

    func context() -> PostgresDecodingContext { PostgresDecodingContext(parameters: connection.parameters) }

    /// Evaluates every expression once, as one row.
    /// `prelude` runs before each of the two queries (e.g. `SELECT setseed(0.5)` so random() agrees).
    func values(_ expressions: [String], prelude: String? = nil) throws -> [Value] {
        do {
            return try batch(expressions, prelude: prelude)
        } catch {
            // Name the expression that failed.
            for e in expressions {
                do { _ = try batch([e], prelude: prelude) } catch { throw OracleError(description: "\(e): \(error)") }
            }
            throw error
        }
    }

    struct OracleError: Error, CustomStringConvertible { var description: String }

    private func batch(_ expressions: [String], prelude: String?) throws -> [Value] {
        let select = "SELECT " + expressions.enumerated().map { "\($1) AS c\($0)" }.joined(separator: ", ")
        if let prelude { try connection.simpleQuery(prelude) }
        let result = try connection.simpleQuery(select)[0]
        let fields = result.columns!.fields
        let texts = result.rows[0].textValues
        var copied: [UInt8] = []
        if let prelude { try connection.simpleQuery(prelude) }
        try connection.simpleQuery("COPY (\(select)) TO STDOUT (FORMAT binary)") { event in
            if case .copyData(let d) = event { copied.append(contentsOf: d) }
        }
        let binaries = try Self.parseBinaryCopy(copied)
        precondition(binaries.count == 1, "expected one row")
        return expressions.indices.map { i in
            Value(expression: expressions[i], type: PostgresDataType(fields[i].dataTypeOID), typeModifier: fields[i].typeModifier,
                  binary: binaries[0][i], text: texts[i])
        }
    }

    /// The binary COPY format: signature, flags, header extension, then tuples until -1.
    static func parseBinaryCopy(_ bytes: [UInt8]) throws -> [[[UInt8]?]] {
        struct Bad: Error {}
        let signature: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00]
        guard bytes.count >= 19, Array(bytes[0..<11]) == signature else { throw Bad() }
        var i = 11
        func int32() throws -> Int32 {
            guard i + 4 <= bytes.count else { throw Bad() }
            defer { i += 4 }
            return Int32(bitPattern: UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8 | UInt32(bytes[i + 3]))
        }
        func int16() throws -> Int16 {
            guard i + 2 <= bytes.count else { throw Bad() }
            defer { i += 2 }
            return Int16(bitPattern: UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]))
        }
        _ = try int32()  // flags
        let ext = try int32()
        i += Int(ext)
        var rows: [[[UInt8]?]] = []
        while true {
            let n = try int16()
            if n == -1 { break }
            var row: [[UInt8]?] = []
            for _ in 0..<n {
                let len = try int32()
                if len < 0 { row.append(nil); continue }
                guard i + Int(len) <= bytes.count else { throw Bad() }
                row.append(Array(bytes[i..<(i + Int(len))]))
                i += Int(len)
            }
            rows.append(row)
        }
        return rows
    }
}

/// Decodes a value with the Swift type that holds its column type losslessly, then encodes it
/// again: the bytes must come back unchanged.
enum CodecRoundTrip {
    typealias Codec = @Sendable (ArraySlice<UInt8>, PostgresDataType, PostgresFormat, PostgresDecodingContext) throws -> [UInt8]

    static func codec<T: PostgresCodable>(_: T.Type) -> Codec {
        { bytes, type, format, context in
            var out: [UInt8] = []
            try T.decode(from: bytes, type: type, format: format, context: context).encode(into: &out, context: .default)
            return out
        }
    }

    /// jsonb: String holds the JSON text; the binary form adds the version byte.
    static let jsonb: Codec = { bytes, type, format, context in
        [1] + Array(try String.decode(from: bytes, type: type, format: format, context: context).utf8)
    }

    /// Compares encoded bytes; for arrays the element OID is the Swift element type's (json, name,
    /// varchar… all read as String, cidr as PostgresInet), so it is left out.
    static func same(_ encoded: [UInt8], _ original: [UInt8], type: PostgresDataType) -> Bool {
        guard PostgresTypeRegistry.shared.elementType(ofArray: type) != nil, encoded.count >= 12, original.count >= 12 else {
            return encoded == original
        }
        var e = encoded
        e.replaceSubrange(8..<12, with: original[8..<12])
        return e == original
    }

    static let byOID: [UInt32: Codec] = [
        16: codec(Bool.self), 17: codec([UInt8].self), 18: codec(UInt8.self), 19: codec(String.self), 20: codec(Int64.self),
        21: codec(Int16.self), 23: codec(Int32.self), 25: codec(String.self), 26: codec(UInt32.self), 114: codec(String.self),
        650: codec(PostgresInet.self), 700: codec(Float.self), 701: codec(Double.self), 829: codec(PostgresMacAddress.self),
        869: codec(PostgresInet.self), 1042: codec(String.self), 1043: codec(String.self), 1082: codec(PostgresDate.self),
        1083: codec(PostgresTime.self), 1114: codec(PostgresTimestamp.self), 1184: codec(PostgresTimestampTZ.self),
        1186: codec(PostgresInterval.self), 1266: codec(PostgresTimeTZ.self), 1700: codec(PostgresNumeric.self),
        2950: codec(UUID.self), 3802: jsonb, 5069: codec(UInt64.self),
        // Arrays (NULL elements through optionals; lower bounds kept by PostgresArray).
        1000: codec(PostgresArray<Bool?>.self), 1001: codec(PostgresArray<[UInt8]?>.self), 1002: codec(PostgresArray<UInt8?>.self),
        1003: codec(PostgresArray<String?>.self), 1005: codec(PostgresArray<Int16?>.self), 1007: codec(PostgresArray<Int32?>.self),
        1009: codec(PostgresArray<String?>.self), 1014: codec(PostgresArray<String?>.self), 1015: codec(PostgresArray<String?>.self),
        1016: codec(PostgresArray<Int64?>.self), 1021: codec(PostgresArray<Float?>.self), 1022: codec(PostgresArray<Double?>.self),
        1028: codec(PostgresArray<UInt32?>.self), 1040: codec(PostgresArray<PostgresMacAddress?>.self),
        1041: codec(PostgresArray<PostgresInet?>.self), 651: codec(PostgresArray<PostgresInet?>.self),
        1115: codec(PostgresArray<PostgresTimestamp?>.self), 1182: codec(PostgresArray<PostgresDate?>.self),
        1183: codec(PostgresArray<PostgresTime?>.self), 1185: codec(PostgresArray<PostgresTimestampTZ?>.self),
        1187: codec(PostgresArray<PostgresInterval?>.self), 1231: codec(PostgresArray<PostgresNumeric?>.self),
        1270: codec(PostgresArray<PostgresTimeTZ?>.self), 2951: codec(PostgresArray<UUID?>.self), 199: codec(PostgresArray<String?>.self),
        3905: codec(PostgresArray<PostgresRange<Int32>?>.self),
        // Ranges and multiranges.
        3904: codec(PostgresRange<Int32>.self), 3926: codec(PostgresRange<Int64>.self), 3906: codec(PostgresRange<PostgresNumeric>.self),
        3908: codec(PostgresRange<PostgresTimestamp>.self), 3910: codec(PostgresRange<PostgresTimestampTZ>.self),
        3912: codec(PostgresRange<PostgresDate>.self), 4451: codec(PostgresMultirange<Int32>.self),
        4535: codec(PostgresMultirange<PostgresDate>.self),
    ]
}
