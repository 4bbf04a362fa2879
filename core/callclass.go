package core

import (
	"slices"

	"github.com/nyaruka/phonenumbers"
)

// Classes of numbers an extension may be allowed to call.
const (
	ClassInternal      = "internal"
	ClassLocal         = "local"
	ClassNational      = "national"
	ClassMobile        = "mobile"
	ClassInternational = "international"
	ClassPremium       = "premium"
)

// CallClasses lists every class.
var CallClasses = []string{ClassInternal, ClassLocal, ClassNational, ClassMobile, ClassInternational, ClassPremium}

// DefaultCallPermissions allow everything but international and premium numbers.
var DefaultCallPermissions = []string{ClassInternal, ClassLocal, ClassNational, ClassMobile}

// DefaultEmergencyNumbers are always allowed.
var DefaultEmergencyNumbers = []string{"911", "933", "112"}

// ClassifyDialled says which class an outside number (E.164 or national in
// country) falls into: another country is international; at home premium
// and shared-cost ranges are premium, mobiles mobile, free numbers local,
// everything else national. Numbers that do not parse are international, the
// most restricted ordinary class.
func ClassifyDialled(number, country string) string {
	n, err := phonenumbers.Parse(number, country)
	if err != nil {
		return ClassInternational
	}
	if phonenumbers.GetRegionCodeForNumber(n) != country && int(n.GetCountryCode()) != phonenumbers.GetCountryCodeForRegion(country) {
		return ClassInternational
	}
	switch phonenumbers.GetNumberType(n) {
	case phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST:
		return ClassPremium
	case phonenumbers.MOBILE:
		return ClassMobile
	case phonenumbers.TOLL_FREE:
		return ClassLocal
	}
	return ClassNational
}

// MayCall reports whether the extension's permissions cover class.
func (s *ExtensionSpec) MayCall(class string) bool {
	return slices.Contains(s.CallPermissions, class)
}
