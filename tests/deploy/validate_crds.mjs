// Validate custom resources (KEDA, Prometheus Operator) against their CRDs' OpenAPI schemas,
// offline, with the validators @kubernetes-models generates from those CRDs.
//
//   node validate_crds.mjs NODE_MODULES_DIR < documents.json
//
// stdin: a JSON array of Kubernetes objects. stdout: one line per object, "ok KIND NAME" or
// "invalid KIND NAME: errors". Exit 0: all valid; 1: some invalid; 2: a kind this script has no
// validator for (add it below rather than let it pass unchecked).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const MODELS = {
  "keda.sh/v1alpha1/ScaledObject": "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject.js",
  "keda.sh/v1alpha1/TriggerAuthentication": "@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication.js",
  "monitoring.coreos.com/v1/ServiceMonitor":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor.js",
  "monitoring.coreos.com/v1/PrometheusRule":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule.js",
  "monitoring.coreos.com/v1/PodMonitor":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor.js",
};

const modulesDir = process.argv[2];
if (!modulesDir) {
  console.error("usage: node validate_crds.mjs NODE_MODULES_DIR < documents.json");
  process.exit(64);
}
const documents = JSON.parse(readFileSync(0, "utf8"));
let status = 0;
for (const doc of documents) {
  const key = `${doc.apiVersion}/${doc.kind}`;
  const name = doc.metadata?.name ?? "?";
  const path = MODELS[key];
  if (!path) {
    console.log(`unknown ${key} ${name}`);
    status = Math.max(status, 2);
    continue;
  }
  const module = await import(pathToFileURL(join(modulesDir, path)).href);
  const Model = module[doc.kind];
  try {
    new Model(doc).validate();
    console.log(`ok ${doc.kind} ${name}`);
  } catch (e) {
    console.log(`invalid ${doc.kind} ${name}: ${e.message}`);
    status = Math.max(status, 1);
  }
}
process.exit(status);
