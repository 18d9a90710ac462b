// Run-time settings of the page. This is the local default, committed to the repository: the
// API is on the same origin (the proxy serves this page and POST /predict). In AWS, Terraform
// overwrites this file with the API Gateway URL, e.g.
//   window.APP_CONFIG = { apiUrl: "https://abc123.execute-api.eu-west-1.amazonaws.com" };
// apiUrl: base URL of the API without a trailing slash; "" means the page's own origin.
// maxUploadBytes: the proxy's MAX_IMAGE_BYTES (larger photos are shrunk before upload).
window.APP_CONFIG = { apiUrl: "", maxUploadBytes: 4194304 };
