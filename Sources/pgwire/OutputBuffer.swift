#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Buffered writes to a file descriptor: one write(2) per 64 KiB, not per line.
final class OutputBuffer {
    private var bytes: [UInt8] = []
    private let fd: Int32

    init(fd: Int32) {
        self.fd = fd
        bytes.reserveCapacity(64 * 1024)
    }

    func write(_ string: String) {
        bytes.append(contentsOf: string.utf8)
        if bytes.count >= 64 * 1024 { flush() }
    }

    func write<C: Collection>(bytes more: C) where C.Element == UInt8 {
        bytes.append(contentsOf: more)
        if bytes.count >= 64 * 1024 { flush() }
    }

    func flush() {
        var offset = 0
        bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 { if errno == EINTR { continue } else { break } }
                offset += n
            }
        }
        bytes.removeAll(keepingCapacity: true)
    }
}
