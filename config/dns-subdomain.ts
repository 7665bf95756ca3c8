// Kubernetes' DNS subdomain (RFC 1123, as apimachinery's IsDNS1123Subdomain): object names, label key prefixes,
// node names. One check for every place that needs it, so no copy drifts looser or stricter.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** At most 253 characters of lower-case alphanumerics, '-' and '.', each dot-separated part starting and ending alphanumeric. */
export function isDnsSubdomain(text: string): boolean {
  return text.length <= 253 && DNS_SUBDOMAIN.test(text);
}
