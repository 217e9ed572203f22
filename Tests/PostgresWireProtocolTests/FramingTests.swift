import Foundation
import Testing
@testable import PostgresWireProtocol

@Suite("Framing")
struct FramingTests {
    static let backendStream: [UInt8] = Samples.backend.flatMap(\.encoded)

    /// Feeds `stream` in the given chunk lengths, decoding after every chunk; keeps every decoded
    /// message (so their slices outlive later appends and compactions).
    static func decodeBackend(_ stream: [UInt8], chunks: [Int], initialCapacity: Int = 64 * 1024) -> [BackendMessage] {
        var decoder = BackendMessageDecoder()
        decoder.framer = FrameDecoder(knownTypes: BackendMessageType.all, initialCapacity: initialCapacity)
        var out: [BackendMessage] = []
        var offset = 0
        for n in chunks {
            decoder.append(stream[offset..<(offset + n)])
            offset += n
            let r = drain(&decoder)
            out += r.messages
            if let e = r.error {
                Issue.record("unexpected error \(e)")
                return out
            }
        }
        #expect(offset == stream.count)
        #expect(decoder.framer.bufferedByteCount == 0)
        return out
    }

    @Test("backend stream fed one byte at a time decodes identically")
    func backendOneByteAtATime() {
        for capacity in [16, 64 * 1024] {
            let got = Self.decodeBackend(Self.backendStream, chunks: Array(repeating: 1, count: Self.backendStream.count),
                                         initialCapacity: capacity)
            #expect(got == Samples.backend)
        }
    }

    @Test("a message split at every possible byte boundary decodes identically", arguments: Samples.backend)
    func everySplitPoint(_ message: BackendMessage) {
        let encoded = message.encoded
        for split in 0...encoded.count {
            var decoder = BackendMessageDecoder()
            decoder.append(encoded[..<split])
            let first = drain(&decoder)
            #expect(first.error == nil)
            if split < encoded.count {
                #expect(first.messages.isEmpty, "message decoded before all of its bytes arrived (split \(split))")
                #expect(decoder.framer.bufferedByteCount == split)
            }
            decoder.append(encoded[split...])
            let second = drain(&decoder)
            #expect(second.error == nil)
            #expect(first.messages + second.messages == [message], "split at \(split)")
        }
    }

    @Test("random chunkings (seeded) decode identically", arguments: [1 as UInt64, 2, 3, 42, 1234])
    func randomChunkings(seed: UInt64) {
        var rng = SeededRNG(seed: seed)
        for round in 0..<40 {
            let maxChunk = [2, 7, 33, 300, 5000][round % 5]
            let chunks = rng.chunkLengths(total: Self.backendStream.count, maxChunk: maxChunk)
            let capacity = [16, 100, 4096, 64 * 1024][round % 4]
            let got = Self.decodeBackend(Self.backendStream, chunks: chunks, initialCapacity: capacity)
            #expect(got == Samples.backend, "seed \(seed) round \(round)")
        }
    }

    @Test("many messages in one chunk")
    func manyMessagesInOneChunk() {
        var stream: [UInt8] = []
        var expected: [BackendMessage] = []
        expected.append(.rowDescription(Samples.rowDescription))
        for i in 0..<10_000 {
            expected.append(.dataRow(DataRow(values: [Array(String(i).utf8), nil, [], [UInt8(i & 0xff)]])))
        }
        expected.append(.commandComplete(CommandComplete(tag: "SELECT 10000")))
        expected.append(.readyForQuery(.idle))
        for m in expected { m.encode(into: &stream) }

        var decoder = BackendMessageDecoder()
        decoder.append(stream)
        let r = drain(&decoder)
        #expect(r.error == nil)
        #expect(r.messages.count == expected.count)
        #expect(r.messages == expected)
        #expect(decoder.framer.bufferedByteCount == 0)
    }

    @Test("a 1 MB DataRow grows the buffer across many appends")
    func largeDataRow() {
        var rng = SeededRNG(seed: 7)
        let big = rng.bytes(1 << 20)
        let row = DataRow(values: [big, nil, bytes("tail")])
        let message = BackendMessage.dataRow(row)
        let stream = BackendMessage.readyForQuery(.idle).encoded + message.encoded + BackendMessage.noData.encoded

        for chunk in [4096, 65_537, 300_000, stream.count] {
            var decoder = BackendMessageDecoder()
            var got: [BackendMessage] = []
            var offset = 0
            while offset < stream.count {
                let n = min(chunk, stream.count - offset)
                decoder.append(stream[offset..<(offset + n)])
                offset += n
                let r = drain(&decoder)
                #expect(r.error == nil)
                got += r.messages
            }
            #expect(got.count == 3)
            #expect(got == [.readyForQuery(.idle), message, .noData])
            if case .dataRow(let decoded) = got[1] {
                #expect(decoded.columnCount == 3)
                #expect(decoded[0].map(Array.init) == big)
                #expect(decoded[1] == nil)
                #expect(decoded[2].map(Array.init) == bytes("tail"))
            }
        }
    }

    @Test("readInto writes straight into the buffer")
    func readInto() throws {
        let stream = Self.backendStream
        var decoder = BackendMessageDecoder()
        decoder.framer = FrameDecoder(knownTypes: BackendMessageType.all, initialCapacity: 16)
        var offset = 0
        var got: [BackendMessage] = []
        var rng = SeededRNG(seed: 99)
        while offset < stream.count {
            let want = Int.random(in: 1...64, using: &rng)
            let n = decoder.framer.readInto(minimumSpace: want) { buffer in
                #expect(buffer.count >= want)
                let count = min(want, stream.count - offset)
                for i in 0..<count { buffer[i] = stream[offset + i] }
                return count
            }
            offset += n
            let r = drain(&decoder)
            #expect(r.error == nil)
            got += r.messages
        }
        #expect(got == Samples.backend)
        // A read of zero bytes (EOF) changes nothing.
        let n = decoder.framer.readInto { _ in 0 }
        #expect(n == 0)
        #expect(decoder.framer.bufferedByteCount == 0)
    }

    @Test("bufferedByteCount tracks partial messages")
    func bufferedByteCount() throws {
        var decoder = BackendMessageDecoder()
        let a = BackendMessage.parameterStatus(ParameterStatus(name: "a", value: "b")).encoded
        decoder.append(a + a[..<3])
        #expect(decoder.framer.bufferedByteCount == a.count + 3)
        #expect(try decoder.next() == .parameterStatus(ParameterStatus(name: "a", value: "b")))
        #expect(decoder.framer.bufferedByteCount == 3)
        #expect(try decoder.next() == nil)
        decoder.append(a[3...])
        #expect(try decoder.next() == .parameterStatus(ParameterStatus(name: "a", value: "b")))
        #expect(try decoder.next() == nil)
        #expect(decoder.framer.bufferedByteCount == 0)
        decoder.append([UInt8]())
        #expect(try decoder.next() == nil)
    }

    // MARK: Copy-on-write safety

    @Test("a kept DataRow survives the buffer being rewound and overwritten")
    func keptRowSurvivesRewind() throws {
        var decoder = BackendMessageDecoder()
        let first = DataRow(values: [[UInt8](repeating: 0xAA, count: 100), bytes("first")])
        decoder.append(BackendMessage.dataRow(first).encoded)
        guard case .dataRow(let kept)? = try decoder.next() else {
            Issue.record("expected a DataRow")
            return
        }
        // The buffer is now fully consumed, so the next append writes from offset 0 again.
        #expect(decoder.framer.bufferedByteCount == 0)
        let second = DataRow(values: [[UInt8](repeating: 0x55, count: 100), bytes("other")])
        decoder.append(BackendMessage.dataRow(second).encoded)
        guard case .dataRow(let next)? = try decoder.next() else {
            Issue.record("expected a DataRow")
            return
        }
        #expect(kept == first)
        #expect(kept.values == first.values)
        #expect(next == second)
    }

    @Test("a kept frame body survives compaction and growth")
    func keptBodySurvivesCompactionAndGrowth() throws {
        var framer = FrameDecoder(knownTypes: BackendMessageType.all, initialCapacity: 64)
        let a = BackendMessage.copyData(ArraySlice([UInt8](repeating: 0x11, count: 20))).encoded  // 25 bytes
        let b = BackendMessage.copyData(ArraySlice([UInt8](repeating: 0x22, count: 40))).encoded  // 45 bytes
        framer.append(a + b[..<10])
        let frameA = try #require(try framer.nextFrame())
        #expect(frameA.type == UInt8(ascii: "d"))
        #expect(Array(frameA.body) == [UInt8](repeating: 0x11, count: 20))
        // 35 bytes are needed and 29 are free at the end: the decoder compacts (moves b's head to 0).
        framer.append(b[10...])
        #expect(Array(frameA.body) == [UInt8](repeating: 0x11, count: 20))
        let frameB = try #require(try framer.nextFrame())
        #expect(Array(frameB.body) == [UInt8](repeating: 0x22, count: 40))

        // Growth with kept bodies.
        let c = BackendMessage.copyData(ArraySlice([UInt8](repeating: 0x33, count: 1000))).encoded
        framer.append(c[..<500])
        #expect(try framer.nextFrame() == nil)
        framer.append(c[500...])
        let frameC = try #require(try framer.nextFrame())
        #expect(Array(frameA.body) == [UInt8](repeating: 0x11, count: 20))
        #expect(Array(frameB.body) == [UInt8](repeating: 0x22, count: 40))
        #expect(Array(frameC.body) == [UInt8](repeating: 0x33, count: 1000))
    }

    @Test("kept slices survive every chunking (seeded)")
    func keptSlicesAcrossRandomAppends() {
        var rng = SeededRNG(seed: 2024)
        var messages: [BackendMessage] = []
        for i in 0..<300 {
            let len = Int.random(in: 0...200, using: &rng)
            messages.append(.dataRow(DataRow(values: [rng.bytes(len), i % 3 == 0 ? nil : [UInt8(i & 0xff)]])))
            messages.append(.copyData(ArraySlice(rng.bytes(Int.random(in: 0...50, using: &rng)))))
        }
        let stream = messages.flatMap(\.encoded)
        for capacity in [16, 256, 4096] {
            let got = Self.decodeBackend(stream, chunks: rng.chunkLengths(total: stream.count, maxChunk: 97), initialCapacity: capacity)
            #expect(got == messages)
        }
    }

    // MARK: Frontend

    static let frontendStream: [FrontendMessage] =
        [.sslRequest, .gssEncRequest, .startup(Samples.startup)] + Samples.frontendTyped

    /// Feeds the frontend conversation in the given chunks, setting the 'p' kind for each expected message.
    static func decodeFrontend(_ expected: [FrontendMessage], chunks: [Int]) -> [FrontendMessage] {
        let stream = expected.flatMap(\.encoded)
        var decoder = FrontendMessageDecoder()
        decoder.framer = FrameDecoder(knownTypes: FrontendMessageDecoder.knownTypes, expectsUntypedMessage: true, initialCapacity: 16)
        var out: [FrontendMessage] = []
        var offset = 0
        for n in chunks {
            decoder.append(stream[offset..<(offset + n)])
            offset += n
            do throws(ProtocolError) {
                while true {
                    if out.count < expected.count { decoder.authenticationResponse = authenticationKind(of: expected[out.count]) }
                    guard let m = try decoder.next() else { break }
                    out.append(m)
                }
            } catch {
                Issue.record("unexpected error \(error)")
                return out
            }
        }
        return out
    }

    @Test("frontend conversation fed one byte at a time decodes identically")
    func frontendOneByteAtATime() {
        let stream = Self.frontendStream.flatMap(\.encoded)
        let got = Self.decodeFrontend(Self.frontendStream, chunks: Array(repeating: 1, count: stream.count))
        #expect(got == Self.frontendStream)
    }

    @Test("frontend conversation in random chunks decodes identically")
    func frontendRandomChunks() {
        var rng = SeededRNG(seed: 5)
        let stream = Self.frontendStream.flatMap(\.encoded)
        for round in 0..<50 {
            let got = Self.decodeFrontend(Self.frontendStream, chunks: rng.chunkLengths(total: stream.count, maxChunk: [3, 40, 1000][round % 3]))
            #expect(got == Self.frontendStream, "round \(round)")
        }
    }

    @Test("the frontend decoder stays untyped after SSLRequest, GSSENCRequest and CancelRequest")
    func frontendUntypedPhase() throws {
        var decoder = FrontendMessageDecoder()
        decoder.append(FrontendMessage.sslRequest.encoded)
        #expect(try decoder.next() == .sslRequest)
        #expect(decoder.framer.expectsUntypedMessage)
        decoder.append(FrontendMessage.gssEncRequest.encoded)
        #expect(try decoder.next() == .gssEncRequest)
        #expect(decoder.framer.expectsUntypedMessage)
        let cancel = FrontendMessage.cancelRequest(CancelRequest(processID: 1, secretKey: 2))
        decoder.append(cancel.encoded)
        #expect(try decoder.next() == cancel)
        #expect(decoder.framer.expectsUntypedMessage)
        decoder.append(FrontendMessage.startup(Samples.startup).encoded)
        #expect(try decoder.next() == .startup(Samples.startup))
        #expect(!decoder.framer.expectsUntypedMessage)
        // After the StartupMessage an untyped-looking packet is an unknown type 0x00.
        decoder.append(FrontendMessage.sslRequest.encoded)
        #expect(throws: ProtocolError.unknownMessageType(0)) { try decoder.next() }
    }

    @Test("startup packet and first typed message in the same chunk")
    func startupAndTypedTogether() throws {
        var decoder = FrontendMessageDecoder()
        decoder.append(FrontendMessage.startup(Samples.startup).encoded + FrontendMessage.password("pw").encoded
            + FrontendMessage.query("SELECT 1").encoded + FrontendMessage.terminate.encoded)
        #expect(try decoder.next() == .startup(Samples.startup))
        #expect(try decoder.next() == .password("pw"))
        #expect(try decoder.next() == .query("SELECT 1"))
        #expect(try decoder.next() == .terminate)
        #expect(try decoder.next() == nil)
    }

    @Test("the raw FrameDecoder hands out type, body and the whole message")
    func rawFrames() throws {
        var framer = FrameDecoder(knownTypes: [UInt8(ascii: "x")])
        let first = typedMessage("x", [1, 2, 3]), second = typedMessage("x", [])
        framer.append(first + second)
        let a = try #require(try framer.nextFrame())
        #expect(a.type == UInt8(ascii: "x"))
        #expect(Array(a.body) == [1, 2, 3])
        #expect(Array(a.bytes) == first)
        let b = try #require(try framer.nextFrame())
        #expect(b.type == UInt8(ascii: "x"))
        #expect(b.body.isEmpty)
        #expect(Array(b.bytes) == second)
        #expect(try framer.nextFrame() == nil)

        var untyped = FrameDecoder(knownTypes: [], expectsUntypedMessage: true)
        let packet = untypedPacket([9, 9, 9, 9, 8])
        untyped.append(packet)
        let c = try #require(try untyped.nextFrame())
        #expect(c.type == nil)
        #expect(Array(c.body) == [9, 9, 9, 9, 8])
        #expect(Array(c.bytes) == packet)
        #expect(try untyped.nextFrame() == nil)
    }

    final class Recorder: MessageTracer, @unchecked Sendable {
        private let lock = NSLock()
        private var _traced: [(TraceDirection, [UInt8])] = []
        var traced: [(TraceDirection, [UInt8])] { lock.withLock { _traced } }
        func trace(_ direction: TraceDirection, bytes: ArraySlice<UInt8>) {
            lock.withLock { _traced.append((direction, Array(bytes))) }
        }
    }

    @Test("the backend decoder traces every message's raw bytes, whatever the chunking")
    func tracer() {
        let recorder = Recorder()
        var decoder = BackendMessageDecoder()
        let stream = Self.backendStream
        var rng = SeededRNG(seed: 11)
        var offset = 0
        var decoded: [BackendMessage] = []
        for n in rng.chunkLengths(total: stream.count, maxChunk: 50) {
            decoder.append(stream[offset..<(offset + n)])
            offset += n
            do throws(ProtocolError) {
                while let m = try decoder.next(tracer: recorder) { decoded.append(m) }
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        #expect(decoded == Samples.backend)
        let traced = recorder.traced
        #expect(traced.count == Samples.backend.count)
        #expect(traced.allSatisfy { $0.0 == .backend })
        #expect(traced.map(\.1) == Samples.backend.map(\.encoded))
    }

    @Test("a malformed message is still traced before it fails to decode")
    func tracerSeesMalformed() {
        let recorder = Recorder()
        var decoder = BackendMessageDecoder()
        let bad = typedMessage("Z", [UInt8(ascii: "X")])
        decoder.append(bad)
        #expect(throws: ProtocolError.self) { try decoder.next(tracer: recorder) }
        #expect(recorder.traced.map(\.1) == [bad])
    }
}
