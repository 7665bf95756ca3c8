// Minimal N-API addon: TCP sockets with the RFC 2385 MD5 signature option (TCP_MD5SIG) and the
// TTL set before the first SYN. Node's `net` has no setsockopt and creates its sockets lazily inside connect(),
// so the key cannot be set on a net.Socket in time; we create the socket here and hand its fd
// to `new net.Socket({ fd })` (active) or `server.listen({ fd })` (passive).
#include "../../native/napi_addon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

// Parses a numeric IPv4/IPv6 address (and port) into a sockaddr_storage; returns its length or 0.
static socklen_t parse_addr(const char* text, int port, struct sockaddr_storage* ss) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in* in4 = (struct sockaddr_in*)ss;
  struct sockaddr_in6* in6 = (struct sockaddr_in6*)ss;
  if (inet_pton(AF_INET, text, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    return sizeof *in4;
  }
  if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    return sizeof *in6;
  }
  return 0;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "missing arguments");
    return 0;
  }
  return 1;
}

static int get_string(napi_env env, napi_value v, char* buf, size_t size) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "expected a string");
    return 0;
  }
  return 1;
}

// socket(family: 4 | 6) -> fd. Non-blocking and close-on-exec, as libuv expects.
static napi_value Socket(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  int32_t family = 0;
  CHECK(napi_get_value_int32(env, argv[0], &family));
  if (family != 4 && family != 6) {
    napi_throw_range_error(env, "ERR_INVALID_ARG", "family must be 4 or 6");
    return NULL;
  }
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  napi_value out;
  CHECK(napi_create_int32(env, fd, &out));
  return out;
}

// setMd5(fd, peerAddress: string, key: Buffer): sets (or with an empty key, removes) the key for one peer.
static napi_value SetMd5(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  int32_t fd = -1;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  char addr[INET6_ADDRSTRLEN + 1];
  if (!get_string(env, argv[1], addr, sizeof addr)) return NULL;
  void* key = NULL;
  size_t keylen = 0;
  CHECK(napi_get_buffer_info(env, argv[2], &key, &keylen));
  if (keylen > TCP_MD5SIG_MAXKEYLEN) {
    napi_throw_range_error(env, "ERR_INVALID_ARG", "TCP MD5 key longer than 80 bytes");
    return NULL;
  }
  struct tcp_md5sig sig;
  memset(&sig, 0, sizeof sig);
  if (parse_addr(addr, 0, &sig.tcpm_addr) == 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "peer address is not a numeric IPv4/IPv6 address");
    return NULL;
  }
  sig.tcpm_keylen = (uint16_t)keylen;
  if (keylen > 0) memcpy(sig.tcpm_key, key, keylen);
  if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &sig, sizeof sig) != 0) return throw_errno(env, "setsockopt(TCP_MD5SIG)", errno);
  return NULL;
}

// ttl(fd, family: 4 | 6, value: number) -> the TTL (IPv4) or unicast hop limit (IPv6) now in force.
// A value of -1 only reads it. eBGP speakers send with TTL 1 unless multihop is configured.
static napi_value Ttl(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  int32_t fd = -1, family = 0, value = -1;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_int32(env, argv[1], &family));
  CHECK(napi_get_value_int32(env, argv[2], &value));
  int level = family == 6 ? IPPROTO_IPV6 : IPPROTO_IP;
  int name = family == 6 ? IPV6_UNICAST_HOPS : IP_TTL;
  if (value != -1) {
    if (value < 1 || value > 255) {
      napi_throw_range_error(env, "ERR_INVALID_ARG", "TTL must be 1..255");
      return NULL;
    }
    if (setsockopt(fd, level, name, &value, sizeof value) != 0) return throw_errno(env, "setsockopt(TTL)", errno);
  }
  int now = 0;
  socklen_t len = sizeof now;
  if (getsockopt(fd, level, name, &now, &len) != 0) return throw_errno(env, "getsockopt(TTL)", errno);
  napi_value out;
  CHECK(napi_create_int32(env, now, &out));
  return out;
}

// bind(fd, address: string, port: number). Used for passive sockets (libuv binds active ones itself).
static napi_value Bind(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  int32_t fd = -1, port = 0;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  char addr[INET6_ADDRSTRLEN + 1];
  if (!get_string(env, argv[1], addr, sizeof addr)) return NULL;
  CHECK(napi_get_value_int32(env, argv[2], &port));
  struct sockaddr_storage ss;
  socklen_t len = parse_addr(addr, port, &ss);
  if (len == 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "bind address is not a numeric IPv4/IPv6 address");
    return NULL;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr*)&ss, len) != 0) return throw_errno(env, "bind", errno);
  return NULL;
}

// close(fd): for sockets that never reached a net.Socket (an error between socket() and hand-over).
static napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  int32_t fd = -1;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  close(fd);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"socket", NULL, Socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setMd5", NULL, SetMd5, NULL, NULL, NULL, napi_enumerable, NULL},
      {"bind", NULL, Bind, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ttl", NULL, Ttl, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
