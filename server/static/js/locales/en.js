// English: the fallback language; every key of the app is here.
/** @type {Record<string, string | Record<string, string>>} */
export default {
};
