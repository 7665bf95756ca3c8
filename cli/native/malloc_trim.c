// Minimal N-API addon: malloc_trim(0), so glibc gives the process's freed malloc memory back to the
// system. The daemons' start (TLS, HTTP and JSON of 10,000s of objects in pages) frees megabytes of
// malloc chunks that glibc keeps in its arenas (and in RSS) for good: ~2.9 MB of the speaker's RSS
// at 10,000 Services with the metallb.io CRDs installed. Node exposes no way to ask for it.
#include <node_api.h>
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif

static napi_value Trim(napi_env env, napi_callback_info info) {
  int released = 0;
#if defined(__GLIBC__)
  released = malloc_trim(0);
#endif
  napi_value result;
  napi_get_boolean(env, released != 0, &result);
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"trim", NULL, Trim, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
