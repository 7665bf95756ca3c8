// What every N-API addon of Herald's needs: the check of an N-API call, errors whose `code` is the
// errno name (so the TypeScript side can switch on it), and the delivery of a received batch to JS.
// A header of static functions: each addon is its own shared object, with no library to link.
#ifndef HERALD_NAPI_ADDON_H
#define HERALD_NAPI_ADDON_H

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define CHECK(call)                                                  \
  do {                                                               \
    if ((call) != napi_ok) {                                         \
      napi_throw_error(env, "ERR_NAPI", "N-API call failed: " #call); \
      return NULL;                                                   \
    }                                                                \
  } while (0)

static inline const char* errno_name(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case ENODEV: return "ENODEV";
    case ENXIO: return "ENXIO";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENOMEM: return "ENOMEM";
    case ENOBUFS: return "ENOBUFS";
    case EAGAIN: return "EAGAIN";
    case ENETDOWN: return "ENETDOWN";
    case ENETUNREACH: return "ENETUNREACH";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case EMSGSIZE: return "EMSGSIZE";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EBADF: return "EBADF";
    default: return "EUNKNOWN";
  }
}

// Throws an Error whose `code` is the errno name and whose message names the call.
static inline napi_value throw_errno(napi_env env, const char* what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, errno_name(err), msg);
  return NULL;
}

// Calls callback(count, err) from a libuv callback: err is an Error coded like throw_errno when
// errnum != 0, else undefined. make_callback runs the microtask queue afterwards; a throw goes to
// 'uncaughtException' as it would from any other I/O callback.
static inline void deliver_batch(napi_env env, napi_async_context async, napi_ref callback, uint32_t count, int errnum) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, result, argv[2];
  napi_get_reference_value(env, callback, &cb);
  napi_get_global(env, &recv);  // make_callback needs an object receiver
  napi_create_uint32(env, count, &argv[0]);
  if (errnum != 0) {
    napi_value code, msg;
    napi_create_string_utf8(env, errno_name(errnum), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, strerror(errnum), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &argv[1]);
  } else {
    napi_get_undefined(env, &argv[1]);
  }
  napi_make_callback(env, async, recv, cb, 2, argv, &result);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
  napi_close_handle_scope(env, scope);
}

#endif
