import Testing
@testable import PostgresWireProtocol

/// The in-place path (`acceptInPlace` / `receiveInPlace`, bodies read from the framer's buffer)
/// must agree with the decoded path (`BackendMessage.decode` then `receive`) on every byte string:
/// the same events, the same error at the same message, the same steps left.
@Suite("Results read in place agree with decoded messages")
struct InPlaceReadingTests {
    typealias Step = ExtendedQueryStateMachine.Step

    enum Outcome: Equatable {
        case events([ExtendedQueryStateMachine.Event], pending: Int)
        case failed(ProtocolError, afterEvents: Int)
    }

    enum SimpleOutcome: Equatable {
        case events([SimpleQueryStateMachine.Event])
        case failed(ProtocolError, afterEvents: Int)
    }

    static func machine(_ steps: [(Step, Int)]) -> ExtendedQueryStateMachine {
        var m = ExtendedQueryStateMachine()
        for (step, tag) in steps { m.enqueue(step, tag: tag) }
        return m
    }

    static func decoded(_ steps: [(Step, Int)], _ bytes: [UInt8]) -> Outcome {
        var m = machine(steps)
        var decoder = BackendMessageDecoder()
        decoder.append(bytes)
        var events: [ExtendedQueryStateMachine.Event] = []
        do throws(ProtocolError) {
            while let message = try decoder.next() { try m.receive(message, into: &events) }
        } catch {
            return .failed(error, afterEvents: events.count)
        }
        return .events(events, pending: m.pendingStepCount)
    }

    static func inPlace(_ steps: [(Step, Int)], _ bytes: [UInt8]) -> Outcome {
        var m = machine(steps)
        var decoder = BackendMessageDecoder()
        decoder.append(bytes)
        var events: [ExtendedQueryStateMachine.Event] = []
        // One memo for the run, as a connection keeps one: repeated tags take its short path.
        var tags = CommandTagMemo()
        do throws(ProtocolError) {
            while let header = try decoder.framer.nextFrameHeader() {
                if let accepted = m.acceptInPlace(header.type) {
                    events.append(try accepted.event(header, in: &decoder.framer, tags: &tags))
                } else {
                    try m.receive(BackendMessage.decode(type: header.type, body: decoder.framer.body(of: header)), into: &events)
                }
            }
        } catch {
            return .failed(error, afterEvents: events.count)
        }
        return .events(events, pending: m.pendingStepCount)
    }

    static func simpleDecoded(_ bytes: [UInt8]) -> SimpleOutcome {
        var m = SimpleQueryStateMachine()
        var decoder = BackendMessageDecoder()
        decoder.append(bytes)
        var events: [SimpleQueryStateMachine.Event] = []
        do throws(ProtocolError) {
            while let message = try decoder.next() { events.append(try m.receive(message)) }
        } catch {
            return .failed(error, afterEvents: events.count)
        }
        return .events(events)
    }

    static func simpleInPlace(_ bytes: [UInt8]) -> SimpleOutcome {
        var m = SimpleQueryStateMachine()
        var decoder = BackendMessageDecoder()
        decoder.append(bytes)
        var events: [SimpleQueryStateMachine.Event] = []
        var tags = CommandTagMemo()
        do throws(ProtocolError) {
            while let header = try decoder.framer.nextFrameHeader() {
                if let event = try m.receiveInPlace(header, in: &decoder.framer, tags: &tags) {
                    events.append(event)
                } else {
                    events.append(try m.receive(BackendMessage.decode(type: header.type, body: decoder.framer.body(of: header))))
                }
            }
        } catch {
            return .failed(error, afterEvents: events.count)
        }
        return .events(events)
    }

    static func encode(_ messages: [BackendMessage]) -> [UInt8] {
        var out: [UInt8] = []
        for m in messages { m.encode(into: &out) }
        return out
    }

    static let row = DataRow(values: [Array("42".utf8), nil, []])
    static let oneColumn = RowDescription(fields: [.init(name: "n", dataTypeOID: 23, dataTypeSize: 4),
                                                   .init(name: "m", dataTypeOID: 25, dataTypeSize: -1),
                                                   .init(name: "o", dataTypeOID: 25, dataTypeSize: -1)])

    /// Pipelines as the driver sends them, with what a server (or a hostile one) answers.
    static let extendedCases: [(steps: [(Step, Int)], messages: [BackendMessage])] = [
        ([(.parse, 0), (.bind, 0), (.execute, 0), (.sync, 1)],
         [.parseComplete, .bindComplete, .dataRow(row), .dataRow(row), .commandComplete(CommandComplete(tag: "SELECT 2")), .readyForQuery(.idle)]),
        ([(.close, -1), (.bind, 0), (.execute, 0), (.bind, 1), (.execute, 1), (.sync, 2)],
         [.closeComplete, .bindComplete, .emptyQueryResponse, .bindComplete, .portalSuspended, .readyForQuery(.inTransaction)]),
        ([(.bind, 0), (.execute, 0), (.sync, 1)],
         [.bindComplete, .errorResponse(DiagnosticFields([(UInt8(ascii: "S"), "ERROR"), (UInt8(ascii: "C"), "22012")])), .readyForQuery(.failed)]),
        ([(.bind, 0), (.execute, 0), (.sync, 1)],
         [.bindComplete, .copyOutResponse(CopyResponse(overallFormat: 0, columnFormats: [0])), .copyData([1, 2]), .dataRow(row), .copyDone,
          .commandComplete(CommandComplete(tag: "COPY 1")), .readyForQuery(.idle)]),
        // Out of order, or answering nothing pending.
        ([(.bind, 0), (.execute, 0), (.sync, 1)], [.dataRow(row), .bindComplete]),
        ([(.execute, 0)], [.bindComplete]),
        ([], [.readyForQuery(.idle)]),
        ([(.describeStatement, 0), (.sync, 1)], [.parameterDescription([23]), .rowDescription(oneColumn), .readyForQuery(.idle)]),
        ([(.bind, 0), (.execute, 0), (.sync, 1)],
         [.bindComplete, .noticeResponse(DiagnosticFields([(UInt8(ascii: "S"), "NOTICE")])), .parameterStatus(ParameterStatus(name: "a", value: "b")),
          .dataRow(row), .commandComplete(CommandComplete(tag: "SELECT 1")), .readyForQuery(.idle)]),
    ]

    static let simpleCases: [[BackendMessage]] = [
        [.rowDescription(oneColumn), .dataRow(row), .dataRow(row), .commandComplete(CommandComplete(tag: "SELECT 2")),
         .commandComplete(CommandComplete(tag: "CREATE TABLE")), .emptyQueryResponse, .readyForQuery(.idle)],
        [.dataRow(row)],
        [.rowDescription(RowDescription(fields: [])), .dataRow(row)],
        [.rowDescription(oneColumn), .readyForQuery(.idle)],
        [.errorResponse(DiagnosticFields([(UInt8(ascii: "S"), "ERROR")])), .readyForQuery(.failed), .readyForQuery(.idle)],
        [.copyInResponse(CopyResponse(overallFormat: 0, columnFormats: [0])), .commandComplete(CommandComplete(tag: "COPY 3")), .readyForQuery(.idle)],
    ]

    @Test("pipelines, errors, COPY and out-of-order messages: the same events and errors both ways")
    func extendedAgrees() {
        for c in Self.extendedCases {
            let bytes = Self.encode(c.messages)
            #expect(Self.inPlace(c.steps, bytes) == Self.decoded(c.steps, bytes), "\(c.messages.map(\.name))")
        }
    }

    @Test("simple query: the same events and errors both ways")
    func simpleAgrees() {
        for messages in Self.simpleCases {
            let bytes = Self.encode(messages)
            #expect(Self.simpleInPlace(bytes) == Self.simpleDecoded(bytes), "\(messages.map(\.name))")
        }
    }

    @Test("malformed bodies (bytes flipped, cut or added) fail in place exactly as when decoded")
    func malformedAgrees() {
        var rng = SeededRNG(seed: 0x5EED_1234)
        var failures = 0
        for round in 0..<3000 {
            let c = Self.extendedCases[round % Self.extendedCases.count]
            var bytes = Self.encode(c.messages)
            switch round % 3 {
            case 0:
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                bytes[i] = UInt8.random(in: 0...255, using: &rng)
            case 1:
                bytes.removeLast(Int.random(in: 1...min(6, bytes.count), using: &rng))
            default:
                // Grow one message's body by a byte, keeping its length field consistent.
                var offset = 0
                var frames: [Int] = []
                while offset + 5 <= bytes.count {
                    frames.append(offset)
                    let length = Int(bytes[offset + 1]) << 24 | Int(bytes[offset + 2]) << 16 | Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
                    offset += 1 + length
                }
                let f = frames.randomElement(using: &rng)!
                let length = Int(bytes[f + 1]) << 24 | Int(bytes[f + 2]) << 16 | Int(bytes[f + 3]) << 8 | Int(bytes[f + 4]) + 1
                bytes[f + 1] = UInt8(truncatingIfNeeded: length >> 24); bytes[f + 2] = UInt8(truncatingIfNeeded: length >> 16)
                bytes[f + 3] = UInt8(truncatingIfNeeded: length >> 8); bytes[f + 4] = UInt8(truncatingIfNeeded: length)
                bytes.insert(UInt8.random(in: 0...255, using: &rng), at: f + length)
            }
            let a = Self.inPlace(c.steps, bytes), b = Self.decoded(c.steps, bytes)
            #expect(a == b, "round \(round): \(bytes)")
            if case .failed = b { failures += 1 }
            let s = Self.simpleCases[round % Self.simpleCases.count]
            var sb = Self.encode(s)
            let j = Int.random(in: 0..<sb.count, using: &rng)
            sb[j] = UInt8.random(in: 0...255, using: &rng)
            #expect(Self.simpleInPlace(sb) == Self.simpleDecoded(sb), "simple round \(round): \(sb)")
        }
        // The mutations do reach the body checks (not only the happy path).
        #expect(failures > 1000)
    }

    @Test("a remembered command tag is given only for the same bytes; anything else is read and checked")
    func commandTagMemo() {
        func body(_ text: String, nul: Bool = true) -> [UInt8] { Array(text.utf8) + (nul ? [0] : []) }
        let bodies: [[UInt8]] = [
            body("SELECT 1"), body("SELECT 1"), body("SELECT 2"), body("SELECT 1"),
            body("SELECT 1") + [7],                   // trailing byte after the tag
            body("SELECT 1"), body("SELECT 1", nul: false), body("SELECT 1"),
            body("INSERT 0 1234567"), body("INSERT 0 1234567"),   // 15 bytes: remembered
            body("INSERT 0 12345678"), body("INSERT 0 12345678"), // 16 bytes: always read
            body("INSERT 0 1234567") + [0, 0],        // same first 16 bytes, longer
            body(""), body(""), [0, 0], [],
            body("SELECT 1"), [0x53, 0x45, 0x4C, 0xFF, 0],         // not UTF-8: repaired as decode does
            [0x53, 0x45, 0x4C, 0xFF, 0],
        ]
        var memo = CommandTagMemo()
        for (i, b) in bodies.enumerated() {
            var decoder = BackendMessageDecoder()
            decoder.append([BackendMessageType.commandComplete] + withUnsafeBytes(of: UInt32(b.count + 4).bigEndian, Array.init) + b)
            guard let header = try? decoder.framer.nextFrameHeader() else { Issue.record("no frame \(i)"); continue }
            let expected = Result { () throws(ProtocolError) in try CommandComplete(decoding: b[...]) }
            let got = Result { () throws(ProtocolError) in try memo.commandComplete(header, in: &decoder.framer) }
            switch (expected, got) {
            case (.success(let e), .success(let g)): #expect(e == g, "body \(i)")
            case (.failure(let e), .failure(let g)): #expect(e == g, "body \(i)")
            default: Issue.record("body \(i): \(expected) vs \(got)")
            }
        }
    }
}
