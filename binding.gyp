{
  "targets": [
    {
      "target_name": "herald_tcp_md5",
      "sources": ["protocols/bgp/native/tcp_md5.c"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    {
      "target_name": "herald_bfd_udp",
      "sources": ["protocols/bfd/native/bfd_udp.c"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    {
      "target_name": "herald_packet_socket",
      "sources": ["protocols/rawio/native/packet_socket.c"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    {
      "target_name": "herald_malloc_trim",
      "sources": ["cli/native/malloc_trim.c"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
