//! Step 2 (probe), transport: a fresh TCP connection to the first address that answers,
//! sent from the region's source address when the prober has one.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

use crate::probe::failure::Failure;
use crate::state::ConnInfo;

/// Connection facts of an address.
pub(crate) fn conn_info(addr: SocketAddr) -> ConnInfo {
    ConnInfo {
        ip: Some(addr.ip().to_string()),
        ip_family: Some(if addr.is_ipv4() { 4 } else { 6 }),
        ..ConnInfo::default()
    }
}

/// Open a fresh TCP connection to the first address that answers, trying addresses of
/// the source address's family first (all of them in resolver order when there is none).
pub(crate) async fn connect(
    addrs: &[SocketAddr],
    source_ip: Option<IpAddr>,
    budget: Duration,
) -> Result<(TcpStream, SocketAddr), Failure> {
    let mut ordered: Vec<SocketAddr> = addrs.to_vec();
    if let Some(ip) = source_ip {
        ordered.sort_by_key(|a| a.is_ipv4() != ip.is_ipv4());
    }
    // Each address gets its share of the check's time, so one that silently drops
    // packets (often a broken IPv6 route) does not use it all up.
    let share = (budget / ordered.len().max(1) as u32).max(Duration::from_millis(500));
    let mut errors = Vec::new();
    for addr in ordered {
        match tokio::time::timeout(share, connect_one(addr, source_ip)).await {
            Ok(Ok(stream)) => return Ok((stream, addr)),
            Ok(Err(e)) => errors.push(e),
            Err(_) => errors.push(Failure::target(format!(
                "connect to {addr} timed out after {}",
                crate::words::duration(share)
            ))),
        }
    }
    Err(Failure::joined(errors))
}

/// A TCP socket of `addr`'s family, bound to the source address when it has that family.
pub(crate) fn open_socket(
    addr: SocketAddr,
    source_ip: Option<IpAddr>,
) -> Result<TcpSocket, Failure> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| Failure::io(&e, format!("cannot open a socket: {e}")))?;
    if let Some(ip) = source_ip
        && ip.is_ipv4() == addr.is_ipv4()
    {
        socket
            .bind(SocketAddr::new(ip, 0))
            .map_err(|e| Failure::io(&e, format!("cannot send from {ip}: {e}")))?;
    }
    Ok(socket)
}

async fn connect_one(addr: SocketAddr, source_ip: Option<IpAddr>) -> Result<TcpStream, Failure> {
    let socket = open_socket(addr, source_ip)?;
    let stream = socket.connect(addr).await.map_err(|e| {
        let detail = match e.kind() {
            std::io::ErrorKind::ConnectionRefused => format!("connect refused ({addr})"),
            std::io::ErrorKind::ConnectionReset => {
                format!("connection reset during connect ({addr})")
            }
            _ => format!("connect failed ({addr}): {e}"),
        };
        Failure::io(&e, detail)
    })?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
