// The service page: each environment's config form and deploy picker.

import { configForm } from "./service/configform.js";
import { deployPicker } from "./service/picker.js";

document.querySelectorAll("form[data-config-form]").forEach(configForm);
document.querySelectorAll("[data-deploy-picker]").forEach(deployPicker);
