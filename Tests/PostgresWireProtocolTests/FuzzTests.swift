import Testing
@testable import PostgresWireProtocol

/// Hostile input must never trap: every byte string either decodes or throws ProtocolError.
/// (Typed throws guarantee the error type; these tests make sure nothing crashes on the way.)
@Suite("Fuzzing")
struct FuzzTests {
    struct Tally {
        var decoded = 0
        var failed = 0
    }

    /// Drains a backend decoder; every decoded message must survive a re-encode/decode round trip
    /// and have readable columns.
    static func exercise(_ decoder: inout BackendMessageDecoder, _ tally: inout Tally) {
        do throws(ProtocolError) {
            while let message = try decoder.next() {
                tally.decoded += 1
                if case .dataRow(let row) = message {
                    _ = row.values
                    if row.columnCount > 0 { _ = row[row.columnCount - 1] }
                }
                let reencoded = message.encoded
                let (t, b) = splitTyped(reencoded)
                let again = decodeBackend(type: t, body: b)
                #expect(again == .success(message), "re-encoding \(message) did not round-trip")
            }
        } catch {
            tally.failed += 1
        }
    }

    static func exercise(_ decoder: inout FrontendMessageDecoder, _ tally: inout Tally, rng: inout SeededRNG) {
        let kinds: [FrontendMessage.AuthenticationResponseKind] = [.password, .saslInitial, .sasl, .gss]
        do throws(ProtocolError) {
            while true {
                decoder.authenticationResponse = kinds.randomElement(using: &rng)!
                guard let message = try decoder.next() else { break }
                tally.decoded += 1
                let reencoded = message.encoded
                let again = isUntyped(message)
                    ? decodeStartup(body: splitUntyped(reencoded))
                    : decodeFrontend(type: splitTyped(reencoded).type, body: splitTyped(reencoded).body,
                                     kind: authenticationKind(of: message))
                #expect(again == .success(message), "re-encoding \(message) did not round-trip")
            }
        } catch {
            tally.failed += 1
        }
    }

    static let backendTypes = Array(BackendMessageType.all).sorted()
    static let frontendTypes = Array(FrontendMessageDecoder.knownTypes).sorted()

    /// Random bytes; half of them shaped like a frame (a real type byte and a consistent length)
    /// so that the body decoders, not just the framer, see the garbage.
    static func randomInput(_ rng: inout SeededRNG, types: [UInt8]) -> [UInt8] {
        let bodyLength = Int.random(in: 0...40, using: &rng)
        var body = rng.bytes(bodyLength)
        // Sprinkle small numbers, NULs and -1s, which are what count/length/terminator logic cares about.
        for i in body.indices where Int.random(in: 0..<4, using: &rng) == 0 {
            body[i] = [0, 0, 1, 2, 0xff][Int.random(in: 0..<5, using: &rng)]
        }
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: return body
        case 1: return [types.randomElement(using: &rng)!] + int32(Int32(bodyLength + 4)) + body
        default: return int32(Int32(bodyLength + 4)) + body  // untyped-shaped
        }
    }

    @Test("random byte strings through both decoders (20,000; more with CI=true)", .timeLimit(.minutes(1)))
    func randomBytes() {
        var rng = SeededRNG(seed: 0xC0FFEE)
        var backend = Tally(), frontend = Tally()
        let clock = ContinuousClock()
        let start = clock.now
        let budget = FuzzBudget(20_000)
        var i = 0
        while budget.continues(i) {
            defer { i += 1 }
            let input = Self.randomInput(&rng, types: i % 2 == 0 ? Self.backendTypes : Self.frontendTypes)

            var b = BackendMessageDecoder(maximumMessageSize: 1 << 16)
            b.append(input)
            Self.exercise(&b, &backend)

            var f = FrontendMessageDecoder(maximumMessageSize: 1 << 16)
            if Bool.random(using: &rng) { f.framer.expectsUntypedMessage = false }
            f.append(input)
            Self.exercise(&f, &frontend, rng: &rng)
        }
        #expect(backend.decoded > 100)
        #expect(backend.failed > 100)
        #expect(frontend.decoded > 100)
        #expect(frontend.failed > 100)
        print("random bytes fuzz: \(i) inputs, backend \(backend), frontend \(frontend), \(clock.now - start)")
    }

    @Test("random bodies through every body decoder", .timeLimit(.minutes(1)))
    func randomBodiesPerType() {
        var rng = SeededRNG(seed: 77)
        var ok = 0
        let budget = FuzzBudget(400)
        var i = 0
        while budget.continues(i) {
            i += 1
            let body = ArraySlice(rng.bytes(Int.random(in: 0...24, using: &rng)).map { Int.random(in: 0..<3, using: &rng) == 0 ? 0 : $0 })
            for t in Self.backendTypes where decodeBackend(type: t, body: body).value != nil { ok += 1 }
            for t in Self.frontendTypes {
                for kind: FrontendMessage.AuthenticationResponseKind in [.password, .saslInitial, .sasl, .gss]
                where decodeFrontend(type: t, body: body, kind: kind).value != nil { ok += 1 }
            }
            // Startup packets: a plausible protocol code followed by garbage.
            let code = [StartupCode.protocolVersion3, StartupCode.sslRequest, StartupCode.cancelRequest,
                        StartupCode.gssEncRequest].randomElement(using: &rng)!
            if decodeStartup(body: ArraySlice(int32(code)) + body).value != nil { ok += 1 }
        }
        #expect(ok > 0)
    }

    /// A valid stream of 1–6 random sample messages.
    static func validBackendStream(_ rng: inout SeededRNG) -> [UInt8] {
        var out: [UInt8] = []
        for _ in 0..<Int.random(in: 1...6, using: &rng) {
            Samples.backend.randomElement(using: &rng)!.encode(into: &out)
        }
        return out
    }

    static func validFrontendStream(_ rng: inout SeededRNG) -> [UInt8] {
        var out: [UInt8] = []
        if Bool.random(using: &rng) { FrontendMessage.sslRequest.encode(into: &out) }
        FrontendMessage.startup(Samples.startup).encode(into: &out)
        for _ in 0..<Int.random(in: 0...5, using: &rng) {
            Samples.frontendTyped.randomElement(using: &rng)!.encode(into: &out)
        }
        return out
    }

    static func mutate(_ input: [UInt8], _ rng: inout SeededRNG) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            guard !bytes.isEmpty else { bytes.append(UInt8.random(in: 0...255, using: &rng)); continue }
            let i = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<7, using: &rng) {
            case 0: bytes[i] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            case 1: bytes[i] = UInt8.random(in: 0...255, using: &rng)
            case 2: bytes[i] = [0, 0xff, 1, 0x7f, 0x80][Int.random(in: 0..<5, using: &rng)]
            case 3: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: i)
            case 4: bytes.remove(at: i)
            case 5: bytes.removeSubrange(i...)
            default:
                // Overwrite a 4-byte window with an interesting Int32 (a length or count field, maybe).
                let values: [Int32] = [-1, 0, 3, 4, 5, Int32.max, Int32.min, 0x7fff, 0xffff]
                let v = int32(values.randomElement(using: &rng)!)
                for k in 0..<4 where i + k < bytes.count { bytes[i + k] = v[k] }
            }
        }
        return bytes
    }

    @Test("mutated valid streams through both decoders (20,000; more with CI=true)", .timeLimit(.minutes(1)))
    func mutatedStreams() {
        var rng = SeededRNG(seed: 0xDEC0DE)
        var backend = Tally(), frontend = Tally()
        let clock = ContinuousClock()
        let start = clock.now
        let budget = FuzzBudget(20_000)
        var i = 0
        while budget.continues(i) {
            defer { i += 1 }
            if i % 2 == 0 {
                let input = Self.mutate(Self.validBackendStream(&rng), &rng)
                var d = BackendMessageDecoder(maximumMessageSize: 1 << 16)
                // Feed in a few chunks, decoding as we go, as a transport would.
                var offset = 0
                for n in rng.chunkLengths(total: input.count, maxChunk: 64) {
                    d.append(input[offset..<(offset + n)])
                    offset += n
                    var t = Tally()
                    Self.exercise(&d, &t)
                    backend.decoded += t.decoded
                    backend.failed += t.failed
                    if t.failed > 0 { break }
                }
            } else {
                let input = Self.mutate(Self.validFrontendStream(&rng), &rng)
                var d = FrontendMessageDecoder(maximumMessageSize: 1 << 16)
                d.append(input)
                Self.exercise(&d, &frontend, rng: &rng)
            }
        }
        #expect(backend.decoded > 1000)
        #expect(backend.failed > 1000)
        #expect(frontend.decoded > 1000)
        #expect(frontend.failed > 1000)
        print("mutation fuzz: \(i) streams, backend \(backend), frontend \(frontend), \(clock.now - start)")
    }

    @Test("random message sequences never trap the state machines", .timeLimit(.minutes(1)))
    func stateMachinesUnderRandomSequences() {
        var rng = SeededRNG(seed: 31337)
        var outcomes = Tally()
        let budget = FuzzBudget(3_000)
        var iteration = 0
        while budget.continues(iteration) {
            iteration += 1
            var query = SimpleQueryStateMachine()
            var startup = StartupStateMachine(parameters: [("user", "u")], password: Bool.random(using: &rng) ? "pw" : nil)
            _ = startup.start()
            var queryAlive = true, startupAlive = true
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                let message = Samples.backend.randomElement(using: &rng)!
                if queryAlive {
                    do throws(ProtocolError) { _ = try query.receive(message); outcomes.decoded += 1 } catch {
                        outcomes.failed += 1
                        queryAlive = false
                    }
                }
                if startupAlive {
                    do throws(StartupStateMachine.Failure) { _ = try startup.receive(message); outcomes.decoded += 1 } catch {
                        outcomes.failed += 1
                        startupAlive = false
                    }
                }
            }
        }
        #expect(outcomes.decoded > 0 && outcomes.failed > 0)
    }

    @Test("random SCRAM server-first messages never trap the client", .timeLimit(.minutes(1)))
    func scramServerFirstFuzz() {
        var rng = SeededRNG(seed: 4096)
        let pieces = ["r=NONCE", "r=NONCEsrv", "r=other", "r=", "s=c2FsdA==", "s=", "s=!!", "s=AA", "i=1", "i=2", "i=0",
                      "i=-1", "i=x", "i=99999999999999999999", "e=bad", "m=ext", "x=1", "=", "", "r", "ri=", "é=1", "r=NONCE✓"]
        var accepted = 0
        let budget = FuzzBudget(2_000)
        var iteration = 0
        while budget.continues(iteration) {
            iteration += 1
            var client = SCRAMClient(password: "pw", nonce: "NONCE")
            _ = client.clientFirstMessage()
            let parts = (0..<Int.random(in: 0...5, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }
            let text = parts.joined(separator: ",")
            do throws(AuthenticationError) {
                _ = try client.clientFinalMessage(serverFirst: Array(text.utf8))
                accepted += 1
                try? client.verifyServerFinal(Array("v=AAAA".utf8))
            } catch {
                if case .invalidServerMessage = error {} else { Issue.record("unexpected error \(error) for \(text)") }
            }
        }
        #expect(accepted > 0)
    }
}
