// The differences between two config documents, field by field (for "start from …").

function flatten(value, prefix, out) {
  if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? prefix + "." + key : key, out);
  } else {
    out[prefix] = JSON.stringify(value);
  }
  return out;
}

export function differences(before, after) {
  const a = flatten(before || {}, "", {}), b = flatten(after || {}, "", {});
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => a[k] !== b[k]).map((k) => ({ path: k, before: a[k], after: b[k] }));
}
