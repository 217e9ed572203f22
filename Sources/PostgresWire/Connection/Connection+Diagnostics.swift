import Foundation

extension Connection {
    /// SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT of a plaintext TCP connection
    /// (nil otherwise): lets tests and tools check that libpq's keepalive settings took effect.
    package func testingSocketOptions() -> [Int32]? {
        withPlainSocket { socket in
            [socket.socketOption(level: SOL_SOCKET, name: SO_KEEPALIVE) ?? -1,
             socket.socketOption(level: Int32(IPPROTO_TCP), name: Platform.tcpKeepIdle) ?? -1,
             socket.socketOption(level: Int32(IPPROTO_TCP), name: TCP_KEEPINTVL) ?? -1,
             socket.socketOption(level: Int32(IPPROTO_TCP), name: TCP_KEEPCNT) ?? -1]
        }
    }
}
